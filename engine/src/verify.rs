//! Whole-log verification: segments, records, gaps, hash chain, bodies,
//! indexes, head.

use crate::error::{Error, Result};
use crate::snapshot::Snapshot;
use crate::storage::chain::ChainChecker;
use crate::storage::frame::{self, GENESIS};
use crate::storage::keys;
use crate::storage::segment::file_name;

/// What a successful [`Snapshot::verify`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked (equal to the head seq).
    pub events: u64,
    /// Chunks checked.
    pub chunks: u64,
    /// Last seq.
    pub head_seq: u64,
    /// Chain hash after the last seq, hex.
    pub chain_hex: String,
    /// Bodies that were redacted (`orc-log redact`): stored replaced, the
    /// chain checked through the original body's digest.
    pub redacted: u64,
    /// Bodies that expired (`orc-log compact`): stored as stubs, the chain
    /// checked through the original body's digest (not in `redacted`).
    pub expired: u64,
}

/// What [`Snapshot::verify_chain`] found: last seq, chain hash after it,
/// chunks, and the (redacted, expired) frame counts.
type ChainWalk = (u64, [u8; frame::HASH_BYTES], u64, (u64, u64));

impl Snapshot {
    /// Checks the whole log as of this snapshot's head; Ok only when it is
    /// intact.
    ///
    /// Reads every segment file in order (the source of truth, not the
    /// index) and checks: each file starts with the magic and is a sequence
    /// of whole records with correct CRCs; the chunks are gapless from seq 1
    /// across records and files; every chunk parses; every body decompresses
    /// to its recorded length and decodes as its kind; the recomputed blake3
    /// chain over the events' canonical encodings equals each chunk's stored
    /// chain hash; the index has each chunk's pointer, time entry and target
    /// entries; the index's head is not past the segments (else the segments
    /// were rolled back or lost acknowledged events); and the chunks end
    /// exactly at this snapshot's head with its chain hash. Records past the
    /// head (appended since the snapshot) are not checked.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first bad seq where known (the segment
    /// file and offset for a damaged record); [`Error::RolledBack`]; store
    /// and I/O errors.
    pub fn verify(&self) -> Result<VerifyReport> {
        // Two threads: this one reads the segments and decodes every body
        // (decompression, bincode), the other recomputes the hash chain and
        // checks the index, a few chunks behind.
        // A seal waits for this check before it switches a segment.
        let _no_switch = self.segs.switch.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        // With damage found at open, read on to where the segments break.
        let target = if self.damage.is_some() { u64::MAX } else { self.head.seq };
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Decoded>>(4);
        let (tail, walked) = std::thread::scope(|s| {
            let hasher = s.spawn(move || self.verify_chain(rx));
            let walked = self.verify_bodies(&tx, target);
            drop(tx);
            let tail =
                hasher.join().unwrap_or_else(|_| Err(Error::Invalid("the verify thread panicked".into())));
            (tail, walked)
        });
        let (head_seq, chain, chunks, (redacted, expired)) = tail?;
        walked?;
        if head_seq < target {
            let index_head = self.index_head_seq()?;
            if index_head > head_seq {
                return Err(Error::RolledBack { store_head: head_seq, record_head: index_head });
            }
        }
        if let Some(why) = &self.damage {
            let index_head = self.index_head_seq()?;
            if index_head > head_seq {
                return Err(Error::RolledBack { store_head: head_seq, record_head: index_head });
            }
            return Err(Error::corrupt(head_seq + 1, why.to_string()));
        }
        if head_seq != target || chain != self.head.chain_hash {
            return Err(Error::corrupt(
                head_seq.max(1),
                format!("the log's head says seq {target} but the segments end at seq {head_seq}"),
            ));
        }
        Ok(VerifyReport {
            events: head_seq,
            chunks,
            head_seq,
            chain_hex: crate::storage::head::hex(&chain),
            redacted,
            expired,
        })
    }

    /// Reads every segment record up to the head in order, decodes its
    /// chunk and every body, and sends them on; a damaged record or body is
    /// sent as the error at its place in the order.
    fn verify_bodies(&self, tx: &std::sync::mpsc::SyncSender<Result<Decoded>>, target: u64) -> Result<()> {
        let mut checker = ChainChecker::new(0, GENESIS)?;
        let send = |item: Result<Decoded>| tx.send(item).is_ok();
        for seg in self.segs.list()? {
            if checker.next_seq > target {
                break;
            }
            if seg != checker.next_seq {
                let why = format!("missing: the next segment file is {} (seq {seg})", file_name(seg));
                send(Err(Error::corrupt(checker.next_seq, why)));
                return Ok(());
            }
            let mut reader = self.segs.reader(seg, 0)?;
            while checker.next_seq <= target {
                let rec = match reader.next_record() {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(bad) => {
                        let why = format!(
                            "segment {} is damaged at offset {}: {}",
                            file_name(seg),
                            bad.offset,
                            bad.why
                        );
                        send(Err(Error::corrupt(checker.next_seq, why)));
                        return Ok(());
                    }
                };
                let decoded = frame::decode_chunk(rec.first_seq, rec.chunk)
                    .map_err(|(seq, why)| Error::corrupt(seq, why))
                    .and_then(|chunk| {
                        let raws = checker.decode_frames(&chunk, Some(&self.reader()))?;
                        Ok(Decoded { ptr: rec.ptr, chunk, raws })
                    });
                let failed = decoded.is_err();
                if !send(decoded) || failed {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Recomputes the chain over decoded chunks in order and checks each
    /// chunk's index entries. Returns the last seq, the chain hash after it,
    /// the number of chunks and the (redacted, expired) frame counts.
    fn verify_chain(&self, rx: std::sync::mpsc::Receiver<Result<Decoded>>) -> Result<ChainWalk> {
        let mut chain = GENESIS;
        let mut next_seq = 1u64;
        let mut max_ts = i64::MIN;
        let mut chunks = 0u64;
        let (mut redacted, mut expired) = (0u64, 0u64);
        let mut version = None;
        for item in rx {
            let Decoded { ptr, chunk, raws } = item?;
            if chunk.version == frame::CHUNK_VERSION_1 {
                return Err(Error::corrupt(chunk.first_seq, "a format 1 chunk in a segment file"));
            }
            // One database holds chunks of one version (3; 2 only in a
            // format 2 database being upgraded).
            if *version.get_or_insert(chunk.version) != chunk.version {
                return Err(Error::corrupt(
                    chunk.first_seq,
                    format!(
                        "a version {} chunk among version {} chunks",
                        chunk.version,
                        version.unwrap_or(0)
                    ),
                ));
            }
            chain = chunk.chain_through(chain, &raws, u64::MAX);
            redacted += chunk.frames.iter().filter(|f| f.digest.is_some() && !f.expired).count() as u64;
            expired += chunk.frames.iter().filter(|f| f.expired).count() as u64;
            max_ts = chunk.frames.iter().fold(max_ts, |m, f| m.max(f.ts_ns));
            if chunk.chain_end != chain {
                return Err(crate::storage::chain::chain_mismatch(&chunk));
            }
            next_seq = chunk.last_seq() + 1;
            let first = chunk.first_seq;
            match self.store.get(&keys::chunk(first))? {
                Some(v) if v.as_ref() == ptr.index_value(max_ts).as_slice() => {}
                _ => {
                    return Err(Error::corrupt(
                        first,
                        "the index has no pointer to this chunk (reopen to rebuild it)",
                    ));
                }
            }
            if self.store.get(&keys::time(max_ts, first))?.is_none() {
                return Err(Error::corrupt(first, "the time index has no entry for this chunk"));
            }
            for k in keys::scope_entries(chunk.scopes.iter().map(String::as_str), first) {
                if self.store.get(&k)?.is_none() {
                    return Err(Error::corrupt(
                        first,
                        "the target index has no entry for this chunk (reopen to rebuild it)",
                    ));
                }
            }
            chunks += 1;
        }
        Ok((next_seq - 1, chain, chunks, (redacted, expired)))
    }

    /// The last seq the index has recorded (the greater of its `M head` and
    /// `M tail`), 0 when none.
    pub(crate) fn index_head_seq(&self) -> Result<u64> {
        let mut seq = 0;
        for name in [keys::META_HEAD, keys::META_TAIL] {
            seq = seq.max(self.store.recorded_head(name)?.map_or(0, |h| h.seq));
        }
        Ok(seq)
    }
}

/// A chunk read back with the raw body of each of its frames, in order.
struct Decoded {
    ptr: crate::storage::segment::Pointer,
    chunk: frame::Chunk<Vec<u8>>,
    raws: Vec<Vec<u8>>,
}
