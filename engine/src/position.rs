//! [`Head`]: where the log ends (last seq, chain hash, greatest ts).

use crate::storage::frame::{GENESIS, HASH_BYTES};
use crate::storage::head;

/// The end of the log: last seq, the chain hash after it, and the greatest ts so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Last seq (0 for an empty log).
    pub seq: u64,
    /// Chain hash after `seq` (32 zero bytes for an empty log).
    pub chain_hash: [u8; HASH_BYTES],
    /// Greatest event ts in the log, UTC ns (`i64::MIN` for an empty log).
    pub max_ts_ns: i64,
}

impl Head {
    /// The chain hash as lowercase hex.
    pub fn chain_hex(&self) -> String {
        head::hex(&self.chain_hash)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(48);
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.chain_hash);
        v.extend_from_slice(&self.max_ts_ns.to_be_bytes());
        v
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 48 {
            return None;
        }
        Some(Self {
            seq: u64::from_be_bytes(b[0..8].try_into().ok()?),
            chain_hash: b[8..40].try_into().ok()?,
            max_ts_ns: i64::from_be_bytes(b[40..48].try_into().ok()?),
        })
    }
}

/// The head of an empty log.
pub(crate) const EMPTY_HEAD: Head = Head { seq: 0, chain_hash: GENESIS, max_ts_ns: i64::MIN };
