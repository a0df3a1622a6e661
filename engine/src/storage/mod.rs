//! The storage under the log's public face (`Log`, `Snapshot`,
//! `SharedLog`): segment files of chunks, the chunk format and its
//! compression, the index (sled plus the tail's memtable), recovery,
//! checkpoint files, the directory lock, and format 1 (read only to
//! upgrade). Nothing here imports the public face; `engine/FORMAT.md`
//! documents every byte these modules write. (redb keeps its `tree_store`
//! under `Database` the same way.)

pub(crate) mod chain;
pub(crate) mod checkpoints;
pub(crate) mod codec;
pub(crate) mod compress;
pub(crate) mod encoder;
pub(crate) mod frame;
pub(crate) mod head;
pub(crate) mod index;
pub(crate) mod keys;
pub(crate) mod lock;
pub(crate) mod read;
pub(crate) mod recover;
pub(crate) mod segment;
pub(crate) mod store;
pub(crate) mod upgrade;
pub(crate) mod varint;
