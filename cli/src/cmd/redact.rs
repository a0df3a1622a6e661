//! `orc-log redact`: rewrite stored bodies matching a pattern to
//! `[REDACTED:manual]`, in the database, its backups, the hook spool and
//! `*.torn-*` files, keeping the hash chain verifiable.

use crate::ctx::Io;
use anyhow::{Context, Result, anyhow};
use orc_log_engine::{Filter, RedactedBody, SharedLog, Snapshot};
use orc_log_schemas::{Event, EventBody, Kind, event_to_json_value, parse_value};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// What a match is replaced with.
pub const REPLACEMENT: &str = "[REDACTED:manual]";

/// Rewrite every stored body that matches a pattern, replacing each match
/// with `[REDACTED:manual]`: captures, messages, tool inputs and responses,
/// the `raw` payloads, every text field (never the kind, time or target).
///
/// It rewrites the database (the segments holding a match are rewritten in
/// place, crash-safely, as `seal` rewrites them), every backup given with
/// `--backups`, the hook spool and the `*.torn-*` files, then appends one
/// `redaction` event listing each redacted body's seq and its old and new
/// body digests (never the matched text). The hash chain takes each body's
/// digest, and a redacted body keeps its original digest, so `verify` still
/// proves every header, every seq and every other body, and reports how
/// many bodies are redacted. Projection checkpoints are deleted (they are
/// rebuilt from the redacted log). Appends wait while the database is
/// rewritten. Safe to `kill -9` at any moment: run it again to finish (bodies
/// already redacted are listed by the next `redaction` event).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The regular expression to redact (Rust `regex` syntax), e.g.
    /// `'hunter2'` or `'sk-[A-Za-z0-9]{20,}'`.
    #[arg(long, value_name = "REGEX")]
    pattern: String,
    /// Only events of these kinds: a comma list or repeated.
    #[arg(long, value_parser = super::parse_kind, value_delimiter = ',', value_name = "KIND")]
    kind: Vec<Kind>,
    /// Only events at or after this time (RFC 3339, a duration before now such as 10m, or now).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    since: Option<i64>,
    /// Only events at or before this time (same forms as --since).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    until: Option<i64>,
    /// List what would change (seqs and kinds, never the matched text) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also redact the backup in DIR (made by `orc-log backup create`); repeatable.
    #[arg(long = "backups", value_name = "DIR")]
    backups: Vec<PathBuf>,
}

/// Keys of an event's JSON object that are not body text.
const NOT_TEXT: &[&str] = &["kind", "ts", "id", "seq", "target", "to", "session"];

/// `event` with every match of `re` in its text fields replaced, or `None`
/// when nothing matches (or the kind/time filter excludes it).
fn redacted(event: &Event, re: &Regex) -> Option<Event> {
    if event.kind() == Kind::Redaction {
        return None;
    }
    let mut v = event_to_json_value(event);
    let mut hit = false;
    if let Some(map) = v.as_object_mut() {
        for (k, val) in map.iter_mut() {
            if NOT_TEXT.contains(&k.as_str()) {
                continue;
            }
            if let Some(s) = val.as_str()
                && re.is_match(s)
            {
                *val = re.replace_all(s, REPLACEMENT).into_owned().into();
                hit = true;
            }
        }
    }
    if !hit {
        return None;
    }
    let mut out = parse_value(v, event.ts_ns).ok()?;
    out.ts_ns = event.ts_ns;
    out.id.clone_from(&event.id);
    (out != *event).then_some(out)
}

/// Whether the filter of `args` takes `event`.
fn wanted(args: &Args, event: &Event) -> bool {
    (args.kind.is_empty() || args.kind.contains(&event.kind()))
        && args.since.is_none_or(|t| event.ts_ns >= t)
        && args.until.is_none_or(|t| event.ts_ns <= t)
}

/// Seqs already listed by `redaction` events.
fn listed(snap: &Snapshot) -> Result<BTreeSet<u64>> {
    let mut out = BTreeSet::new();
    let filter =
        Filter { kinds: vec![Kind::Redaction], until_seq: Some(snap.head().seq), ..Filter::default() };
    for rec in snap.scan(filter)? {
        if let EventBody::Redaction { bodies, .. } = rec?.event.body {
            out.extend(bodies.lines().filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok()));
        }
    }
    Ok(out)
}

/// Runs `orc-log redact`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let re = Regex::new(&args.pattern)
        .map_err(|e| anyhow!("--pattern {:?} is not a valid regular expression: {e}", args.pattern))?;
    let snap = db.snapshot();
    let mut edit = |_: u64, e: &Event| if wanted(&args, e) { redacted(e, &re) } else { None };
    // The plan: every matching body in the database.
    let mut plan: BTreeMap<u64, Event> = BTreeMap::new();
    let filter = Filter {
        kinds: args.kind.clone(),
        since_ns: args.since,
        until_ns: args.until,
        until_seq: Some(snap.head().seq),
        ..Filter::default()
    };
    for rec in snap.scan(filter)? {
        let rec = rec?;
        if let Some(new) = edit(rec.seq, &rec.event) {
            plan.insert(rec.seq, new);
        }
    }
    let backups: Vec<PathBuf> = args.backups.iter().map(|b| io.resolve(b)).collect();
    let spool = orc_log_server::spool::Spool::for_db(snap.dir());
    let matches_bytes = |b: &[u8]| re.is_match(&String::from_utf8_lossy(b));
    if args.dry_run {
        writeln!(io.out, "would redact {} bodies in the database", plan.len())?;
        for (seq, e) in &plan {
            writeln!(io.out, "  seq {seq} {}", e.kind())?;
        }
        for b in &backups {
            let found = orc_log_engine::redact_backup(b, &mut edit, true)
                .with_context(|| format!("backup {}", b.display()))?;
            writeln!(io.out, "would redact {} bodies in backup {}", found.len(), b.display())?;
        }
        writeln!(
            io.out,
            "would redact {} lines of the hook spool {}",
            redact_spool(spool.path(), &mut edit, true)?,
            spool.path().display()
        )?;
        for (name, seqs) in orc_log_engine::redact_torn_files(&snap, &mut edit, &matches_bytes, true)? {
            writeln!(io.out, "would redact {name} ({} bodies)", seqs.len())?;
        }
        writeln!(io.out, "dry run: nothing was changed")?;
        return Ok(0);
    }
    let done = db.redact(&plan).context("redacting the database")?;
    let mut notes = Vec::new();
    for b in &backups {
        let n = orc_log_engine::redact_backup(b, &mut edit, false)
            .with_context(|| format!("redacting backup {}", b.display()))?;
        writeln!(io.out, "redacted {} bodies in backup {}", n.len(), b.display())?;
        notes.push(format!("backup {}: {} bodies", b.display(), n.len()));
    }
    let spooled = redact_spool(spool.path(), &mut edit, false)?;
    if spooled > 0 {
        writeln!(io.out, "redacted {spooled} lines of the hook spool {}", spool.path().display())?;
        notes.push(format!("hook spool: {spooled} lines"));
    }
    let snap = db.snapshot();
    let torn = orc_log_engine::redact_torn_files(&snap, &mut edit, &matches_bytes, false)?;
    for (name, seqs) in &torn {
        writeln!(io.out, "redacted {name} ({} bodies)", seqs.len())?;
        notes.push(format!("{name}: {} bodies", seqs.len()));
    }
    // Bodies a killed run redacted but did not list yet are listed now.
    let already = listed(&snap)?;
    let mut lines: BTreeMap<u64, RedactedBody> = snap
        .redacted_bodies()?
        .into_iter()
        .filter(|r| !already.contains(&r.seq))
        .map(|r| (r.seq, r))
        .collect();
    for r in &done {
        lines.insert(r.seq, *r);
    }
    writeln!(io.out, "redacted {} bodies in the database", done.len())?;
    if lines.is_empty() && notes.is_empty() {
        writeln!(io.out, "nothing matched; no redaction event appended")?;
        return Ok(0);
    }
    let bodies: Vec<String> = lines.values().map(RedactedBody::line).collect();
    let event = Event {
        ts_ns: orc_log_schemas::now_ns(),
        id: None,
        body: EventBody::Redaction {
            bodies: bodies.join("\n"),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        },
    };
    let receipt = db.append(vec![event]).context("appending the redaction event")?;
    // Checkpoints may hold redacted text: the projections rebuild from the log.
    for name in snap.checkpoint_names("")? {
        db.delete_checkpoint(&name)?;
    }
    writeln!(io.out, "appended redaction event seq {} listing {} bodies", receipt.last_seq, bodies.len())?;
    Ok(0)
}

/// Redacts the hook spool at `path` (NDJSON lines): every line whose event
/// `edit` changes is replaced, under the spool's lock. Crash-safe: the new
/// contents are written to `PATH.redact` and synced first; the spool is then
/// rewritten in place (its lock is on the file itself, so it keeps its
/// inode) and synced, and `PATH.redact` removed; a run that finds
/// `PATH.redact` (an interrupted rewrite) copies it in first. Returns the
/// lines changed.
fn redact_spool(
    path: &Path,
    edit: &mut dyn FnMut(u64, &Event) -> Option<Event>,
    dry_run: bool,
) -> Result<usize> {
    let mut file = match std::fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    file.lock().with_context(|| format!("locking {}", path.display()))?;
    let saved = path.with_extension("ndjson.redact");
    let write_in_place = |file: &mut std::fs::File, text: &str| -> Result<()> {
        file.set_len(0)?;
        file.seek(std::io::SeekFrom::Start(0))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(())
    };
    if !dry_run && let Ok(text) = std::fs::read_to_string(&saved) {
        write_in_place(&mut file, &text).with_context(|| format!("rewriting {}", path.display()))?;
        std::fs::remove_file(&saved).with_context(|| format!("removing {}", saved.display()))?;
    }
    let mut text = String::new();
    file.seek(std::io::SeekFrom::Start(0))?;
    file.read_to_string(&mut text).with_context(|| format!("reading {}", path.display()))?;
    let now = orc_log_schemas::now_ns();
    let mut changed = 0;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match orc_log_schemas::parse_line(line, now).ok().and_then(|e| edit(0, &e)) {
            Some(new) => {
                changed += 1;
                out.push_str(&event_to_json_value(&new).to_string());
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    if changed == 0 || dry_run {
        return Ok(changed);
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&saved)
        .with_context(|| format!("creating {}", saved.display()))?;
    f.write_all(out.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", saved.display()))?;
    write_in_place(&mut file, &out).with_context(|| format!("rewriting {}", path.display()))?;
    std::fs::remove_file(&saved).with_context(|| format!("removing {}", saved.display()))?;
    Ok(changed)
}

use std::os::unix::fs::OpenOptionsExt as _;
