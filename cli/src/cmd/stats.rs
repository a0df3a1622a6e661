//! `orc-log stats`: events by kind, raw vs stored bytes.

use crate::ctx::Io;
use anyhow::Result;
use orc_log_engine::{Filter, Head, SharedLog};
use orc_log_schemas::Kind;
use serde_json::json;
use std::collections::BTreeMap;

/// Events by kind, raw vs stored bytes and the compression ratio.
///
/// `raw_bytes` is the uncompressed encoded body; `stored_bytes` is what the
/// event's frame takes (header, compressed body, check). `disk_bytes` is the
/// whole database on disk, store overhead included; below the table it is
/// broken down into sealed segments (repacked into large chunks), unsealed
/// segments (the active one and any awaiting their seal), and the index
/// (sled's files, with bytes per event; the unsealed tail's index entries
/// are held in memory instead), with the time of the last seal. Reads only
/// frame headers.
/// On a damaged log it counts the events that read back intact before the
/// damage, says where reading stopped on stderr, and exits 1.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// A table for people.
    Table,
    /// `{"events": N, "head_seq": N, "by_kind": {...}, "disk_bytes": N, "storage": {...}}`.
    Json,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    events: u64,
    raw_bytes: u64,
    stored_bytes: u64,
    /// Events whose body expired (`orc-log compact`).
    expired: u64,
}

fn ratio(c: Counts) -> String {
    if c.stored_bytes == 0 {
        "-".into()
    } else {
        format!("{:.1}x", c.raw_bytes as f64 / c.stored_bytes as f64)
    }
}

/// Runs `orc-log stats`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let log = db.snapshot();
    let ((by_kind, total, disk_bytes, head), damage) = crate::db::read_intact(|intact| {
        let mut by_kind: BTreeMap<Kind, Counts> = BTreeMap::new();
        let mut total = Counts::default();
        for m in log.scan_meta(Filter { until_seq: intact, ..Filter::default() })? {
            let m = m?;
            let c = by_kind.entry(m.kind).or_default();
            for c in [c, &mut total] {
                c.events += 1;
                c.raw_bytes += m.raw_bytes;
                c.stored_bytes += m.stored_bytes;
                c.expired += u64::from(m.expired);
            }
        }
        let head = match intact {
            None => log.head(),
            Some(seq) => Head {
                seq,
                chain_hash: log.chain_at_chunk_end(seq)?.unwrap_or_default(),
                max_ts_ns: log.head().max_ts_ns,
            },
        };
        Ok((by_kind, total, log.disk_bytes()?, head))
    })?;
    let storage = log.storage()?;
    let last_seal = storage.last_seal.and_then(|t| {
        let ns = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
        Some(orc_log_schemas::format_rfc3339(i64::try_from(ns).ok()?))
    });
    let per_event = |bytes: u64| if head.seq == 0 { 0.0 } else { bytes as f64 / head.seq as f64 };
    match args.format {
        Format::Json => {
            let kinds: serde_json::Map<String, serde_json::Value> = by_kind
                .iter()
                .map(|(k, c)| {
                    (
                        k.as_str().to_owned(),
                        json!({"events": c.events, "raw_bytes": c.raw_bytes, "stored_bytes": c.stored_bytes, "expired": c.expired}),
                    )
                })
                .collect();
            let storage = json!({
                "sealed_segments": storage.sealed_segments,
                "sealed_segment_bytes": storage.sealed_segment_bytes,
                "unsealed_segments": storage.unsealed_segments,
                "unsealed_segment_bytes": storage.unsealed_segment_bytes,
                "index_bytes": storage.index_bytes,
                "index_bytes_per_event": per_event(storage.index_bytes),
                "index_memory_entries": storage.index_memory_entries,
                "index_memory_bytes": storage.index_memory_bytes,
                "checkpoint_bytes": storage.checkpoint_bytes,
                "last_seal": last_seal,
            });
            let v = json!({"events": total.events, "head_seq": head.seq, "by_kind": kinds, "disk_bytes": disk_bytes, "storage": storage});
            writeln!(io.out, "{v}")?;
        }
        Format::Table => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(["kind", "events", "raw_bytes", "stored_bytes", "ratio"]);
            for (k, c) in &by_kind {
                t.add_row([
                    k.as_str().to_owned(),
                    c.events.to_string(),
                    c.raw_bytes.to_string(),
                    c.stored_bytes.to_string(),
                    ratio(*c),
                ]);
            }
            t.add_row([
                "total".into(),
                total.events.to_string(),
                total.raw_bytes.to_string(),
                total.stored_bytes.to_string(),
                ratio(total),
            ]);
            for col in 1..5 {
                if let Some(c) = t.column_mut(col) {
                    c.set_cell_alignment(comfy_table::CellAlignment::Right);
                }
            }
            writeln!(io.out, "{t}")?;
            writeln!(
                io.out,
                "head seq {}  chain {}  disk {disk_bytes} bytes  ({})",
                head.seq,
                head.chain_hex(),
                db.dir().display()
            )?;
            writeln!(
                io.out,
                "segments: {} sealed ({} bytes), {} unsealed ({} bytes); index: {} bytes on disk ({:.1} per event), {} entries of the unsealed tail in memory; last seal: {}",
                storage.sealed_segments,
                storage.sealed_segment_bytes,
                storage.unsealed_segments,
                storage.unsealed_segment_bytes,
                storage.index_bytes,
                per_event(storage.index_bytes),
                storage.index_memory_entries,
                last_seal.as_deref().unwrap_or("never"),
            )?;
            if total.expired > 0 {
                let cutoff = orc_log_engine::retention::Cutoff::load(db.dir())?;
                writeln!(
                    io.out,
                    "expired: {} bodies (stubs left by `orc-log compact`); retention cutoff {}",
                    total.expired,
                    cutoff.map_or_else(|| "unknown".to_owned(), |c| c.to_string())
                )?;
            }
        }
    }
    Ok(crate::db::exit_status(io.err, damage.as_ref())?)
}
