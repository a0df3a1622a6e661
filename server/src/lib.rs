//! orc-log's server: one process owns a database and serves it to every
//! other orc-log process over a Unix socket (protocol: `docs/PROTOCOL.md`).
//!
//! - [`wire`]: frames, requests and responses, version 1.
//! - [`client`]: [`Client`] for a running server, [`connect_or_open`] that
//!   reaches a database through its server or directly, waiting while
//!   another process holds it, and [`Appender`] for writers.
//! - [`server`]: [`serve`], the server loop: group-committed appends through
//!   the engine's [`orc_log_engine::SharedLog`], and commands run by a
//!   caller-supplied [`Runner`] (so this crate knows no command line).
//! - [`spool`]: events kept in a file while the database cannot take them
//!   (`orc-log hook`), appended by the next writer that reaches it.
//!
//! The crate never sees clap, DataFusion or anyhow.

pub mod client;
mod error;
pub mod server;
pub mod spool;
pub mod wire;

pub use client::{
    Appender, Client, DEFAULT_LOCK_TIMEOUT, Delivery, Endpoint, OpenOptions, Reconnecting, connect_or_open,
    database_exists, socket_path,
};
pub use error::{Error, Result};
pub use server::{Runner, ServeOptions, serve};
pub use spool::{DrainReport, Spool};
