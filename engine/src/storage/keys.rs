//! Key layout of the store's single keyspace (FORMAT.md, "Keys").
//!
//! Every key starts with a one-byte tag, so one ordered keyspace holds the
//! chunk pointers (into segment files), their indexes and metadata, and one
//! atomic batch commits them together.
//! Integers are big-endian so byte order is numeric order.

/// `C` + first seq (u64 BE) -> the chunk's segment pointer (20 bytes:
/// segment, offset, length) and the running-max ts up to its last event
/// (i64 BE): 28 bytes.
pub(crate) const CHUNK: u8 = b'C';
/// `T` + running-max ts (ordered u64 BE) + first seq (u64 BE) -> empty.
pub(crate) const TIME: u8 = b'T';
/// `S` + scope bytes + 0x00 + first seq (u64 BE) -> empty.
pub(crate) const SCOPE: u8 = b'S';
/// `I` + producer id bytes -> seq (u64 BE).
pub(crate) const ID: u8 = b'I';
/// `M` + name -> metadata value.
pub(crate) const META: u8 = b'M';
/// `P` + projection name -> checkpoint bytes: where checkpoints were kept
/// before they became files (`checkpoints.rs`); removed at open.
pub(crate) const CHECKPOINT: u8 = b'P';

/// Metadata name of the format version (ASCII decimal).
pub(crate) const META_FORMAT: &[u8] = b"format";
/// Metadata name of the head: seq u64 BE, chain hash 32 bytes, running-max ts i64 BE.
pub(crate) const META_HEAD: &[u8] = b"head";
/// Metadata name of the log's head as of the last clean close or `Log::sync`
/// (same encoding as `M head`, which is the head as of the index's last
/// chunk in sled): an open whose segments end before it finds a rollback.
pub(crate) const META_TAIL: &[u8] = b"tail";
/// `M sealing` -> the first seq (u64 BE) of the segment being sealed, from
/// just before its sealed copy replaces it until its index is switched.
pub(crate) const META_SEALING: &[u8] = b"sealing";

pub(crate) fn chunk(seq: u64) -> [u8; 9] {
    let mut k = [CHUNK; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn chunk_seq(key: &[u8]) -> Option<u64> {
    match key {
        [CHUNK, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// Maps an i64 to a u64 whose big-endian bytes sort in the same order.
pub(crate) fn ts_ord(ts_ns: i64) -> u64 {
    (ts_ns as u64) ^ (1 << 63)
}

pub(crate) fn time(running_max_ts: i64, first_seq: u64) -> [u8; 17] {
    let mut k = [TIME; 17];
    k[1..9].copy_from_slice(&ts_ord(running_max_ts).to_be_bytes());
    k[9..].copy_from_slice(&first_seq.to_be_bytes());
    k
}

/// The first seq named by a time-index key.
pub(crate) fn time_seq(key: &[u8]) -> Option<u64> {
    match key {
        [TIME, _ts @ .., s0, s1, s2, s3, s4, s5, s6, s7] if key.len() == 17 => {
            Some(u64::from_be_bytes([*s0, *s1, *s2, *s3, *s4, *s5, *s6, *s7]))
        }
        _ => None,
    }
}

pub(crate) fn scope_prefix(scope: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(scope.len() + 10);
    k.push(SCOPE);
    k.extend_from_slice(scope.as_bytes());
    k.push(0);
    k
}

pub(crate) fn scope(scope: &str, first_seq: u64) -> Vec<u8> {
    let mut k = scope_prefix(scope);
    k.extend_from_slice(&first_seq.to_be_bytes());
    k
}

/// The first seq named by a scope-index key.
pub(crate) fn scope_seq(key: &[u8]) -> Option<u64> {
    let tail = key.get(key.len().checked_sub(8)?..)?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

pub(crate) fn id(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.len() + 1);
    k.push(ID);
    k.extend_from_slice(id.as_bytes());
    k
}

pub(crate) fn meta(name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 1);
    k.push(META);
    k.extend_from_slice(name);
    k
}

/// `W` + first seq (u64 BE) -> empty: a *wide* chunk, one with more than
/// [`WIDE_SCOPES`] distinct scopes, which gets this one entry instead of one
/// `S` entry per scope. A scan of one scope visits the chunks of its `S`
/// entries and every wide chunk, in seq order.
pub(crate) const WIDE: u8 = b'W';

/// A chunk with more distinct scopes than this is indexed as wide.
pub(crate) const WIDE_SCOPES: usize = 16;

pub(crate) fn wide(first_seq: u64) -> [u8; 9] {
    let mut k = [WIDE; 9];
    k[1..].copy_from_slice(&first_seq.to_be_bytes());
    k
}

/// The index entries that say which scopes a chunk holds: one `S` entry per
/// scope, or one `W` entry for a wide chunk.
pub(crate) fn scope_entries<'a>(scopes: impl IntoIterator<Item = &'a str>, first_seq: u64) -> Vec<Vec<u8>> {
    let mut scopes: Vec<&str> = scopes.into_iter().collect();
    scopes.sort_unstable();
    scopes.dedup();
    if scopes.len() > WIDE_SCOPES {
        return vec![wide(first_seq).to_vec()];
    }
    scopes.into_iter().map(|s| scope(s, first_seq)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_match_numbers() {
        assert!(chunk(1) < chunk(2) && chunk(255) < chunk(256));
        assert!(time(-5, 9) < time(3, 1) && time(3, 1) < time(3, 2));
        assert_eq!(chunk_seq(&chunk(77)), Some(77));
        assert_eq!(time_seq(&time(-1, 42)), Some(42));
        assert_eq!(scope_seq(&scope("s:1.0", 5)), Some(5));
        assert!(scope("s:1.0", 9) < scope("s:1.0", 10));
        assert_eq!(scope_seq(&wide(12)), Some(12));
        let many: Vec<String> = (0..=WIDE_SCOPES).map(|i| format!("s:{i}.0")).collect();
        assert_eq!(scope_entries(many.iter().map(String::as_str), 3), vec![wide(3).to_vec()]);
        assert_eq!(scope_entries(["a", "b", "a"], 3).len(), 2);
    }
}
