//! Retention: the rules a database keeps (`DIR/retention.toml`), the pins
//! that hold back what they still need (`DIR/pins/`, and the running
//! followers of a [`SharedLog`]), the plan a set of rules makes for a log,
//! and compaction ([`SharedLog::compact`]), which turns every body the plan
//! expires into its stub (FORMAT.md, "Retention and compaction").
//!
//! Like Kafka's `retention.ms`/`retention.bytes` and KurrentDB's `$maxAge`/
//! `$maxCount`, a rule says how long (or how many) events of a kind are kept;
//! unlike a mere mark, compaction frees the bytes right away: each expired
//! body is replaced by a stub (the kind and target, nothing else) in the
//! segment holding it, rewritten with the seal's crash-safe steps, and the
//! frame keeps the digest the chain took (as QLDB's `REDACT_REVISION` and
//! immudb's truncation keep digests), so `verify` and `verify --trusted`
//! still prove every header and every kept body.

use crate::error::{Error, Result};
use crate::seal::BodyEdit;
pub use crate::seal::{CHECKPOINTED_FILE, record_checkpoint};
use crate::shared::SharedLog;
use crate::snapshot::Snapshot;
use crate::storage::codec;
use crate::{EventMeta, Filter};
use orc_log_schemas::{Event, Kind, format_rfc3339};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The rules file in a database directory.
pub const RULES_FILE: &str = "retention.toml";
/// The cutoff file (one of [`crate::STORAGE_ENTRIES`]): the last seq (and its ts) whose body a compaction
/// expired or was about to expire (JSON `{"seq":N,"ts_ns":T}`). Time travel
/// before it is refused, since the bodies it would fold are stubs.
pub const CUTOFF_FILE: &str = "compacted.json";
/// The directory of pins (one JSON file each).
pub const PINS_DIR: &str = "pins";
/// The key of a rule for every kind without a rule of its own.
pub const ALL_KINDS: &str = "all";
/// Kinds no rule expires: a `redaction` event lists the digests that prove
/// what was redacted.
pub const NEVER_EXPIRES: &[Kind] = &[Kind::Redaction];
/// The smallest `max_bytes` accepted (1 MiB): below it every body would go.
pub const MIN_MAX_BYTES: u64 = 1 << 20;
/// About what a stub costs on disk, used to plan `max_bytes` and to
/// estimate what a compaction frees: its frame's columns and stub body
/// (5.8 bytes an event when all of the 1M-event benchmark set expired:
/// benches/storage/compact.py --rule bytes). Each run of expired events
/// keeps [`RUN_BYTES`] more. An estimate: when a compaction frees less than
/// planned, the next one expires more, never far past the limit.
pub const STUB_BYTES: u64 = 6;
/// What each run of consecutive expired events keeps besides its stubs:
/// the 32-byte chain hash after it (FORMAT.md, "Retention and compaction").
pub const RUN_BYTES: u64 = 32;

/// How long, or how many, events of one kind are kept. At least one of
/// the two is set; an event goes when either says so.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindRule {
    /// Bodies older than this (by `ts`, against the time compaction runs)
    /// expire, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u64>,
    /// Only the newest this many events of the kind keep their bodies
    /// (under `all`: of each kind without a rule of its own, counted
    /// separately).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u64>,
}

/// A database's retention rules (the TOML of `DIR/retention.toml`):
///
/// ```toml
/// max_bytes = 10737418240   # the events' segment files, in bytes
/// [kind.capture]
/// max_age_secs = 1209600    # 14 days
/// [kind.all]                # every kind without a rule of its own
/// max_age_secs = 31536000
/// max_count = 1000000
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// When the events' segment files are larger than this, in bytes, the
    /// oldest bodies expire until they would fit (as Kafka's
    /// `retention.bytes` bounds a log's data; the index and the projection
    /// checkpoints, small and bounded, are not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Rules by kind name (`capture`, `message`, ...) or `all`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kind: BTreeMap<String, KindRule>,
}

impl Rules {
    /// Whether there is no rule at all.
    pub fn is_empty(&self) -> bool {
        self.max_bytes.is_none() && self.kind.is_empty()
    }

    /// Checks every value: kind keys are `all` or a kind name other than
    /// `redaction`; each rule sets `max_age_secs` (>= 1) or `max_count`
    /// (>= 1); `max_bytes` is at least [`MIN_MAX_BYTES`].
    ///
    /// # Errors
    /// [`Error::Config`] naming the key and value refused.
    pub fn validate(&self) -> Result<()> {
        if let Some(b) = self.max_bytes
            && b < MIN_MAX_BYTES
        {
            return Err(Error::Config(format!(
                "max_bytes = {b} is below the smallest accepted, {MIN_MAX_BYTES} (1 MiB)"
            )));
        }
        for (name, rule) in &self.kind {
            if name != ALL_KINDS {
                let kind = Kind::from_name(name).ok_or_else(|| {
                    Error::Config(format!("kind.{name}: unknown kind {name:?} (a kind name or \"all\")"))
                })?;
                if NEVER_EXPIRES.contains(&kind) {
                    return Err(Error::Config(format!(
                        "kind.{name}: {name} events never expire (they prove what was redacted)"
                    )));
                }
            }
            if rule.max_age_secs.is_none() && rule.max_count.is_none() {
                return Err(Error::Config(format!("kind.{name}: sets neither max_age_secs nor max_count")));
            }
            if rule.max_age_secs == Some(0) {
                return Err(Error::Config(format!("kind.{name}: max_age_secs = 0 (at least 1)")));
            }
            if rule.max_count == Some(0) {
                return Err(Error::Config(format!("kind.{name}: max_count = 0 (at least 1)")));
            }
        }
        Ok(())
    }

    /// The rule for `kind`: its own, else the `all` one.
    pub fn for_kind(&self, kind: Kind) -> Option<&KindRule> {
        if NEVER_EXPIRES.contains(&kind) {
            return None;
        }
        self.kind.get(kind.as_str()).or_else(|| self.kind.get(ALL_KINDS))
    }

    /// Reads and validates `DIR/retention.toml`; `None` when there is none.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, the line and the key or value
    /// that is wrong (unknown keys are refused); I/O errors.
    pub fn load(dir: &Path) -> Result<Option<Rules>> {
        let path = dir.join(RULES_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let rules: Rules = toml::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: {}", path.display(), e.to_string().trim_end())))?;
        rules.validate().map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Ok(Some(rules))
    }

    /// Validates and writes the rules to `DIR/retention.toml` (a temporary
    /// file renamed over it), or removes the file when there is no rule.
    ///
    /// **Durability:** on disk (file and directory synced) when this returns Ok.
    ///
    /// # Errors
    /// As [`Rules::validate`]; I/O errors.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.validate()?;
        let path = dir.join(RULES_FILE);
        if self.is_empty() {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(Error::io("remove", &path, e)),
            }
            return crate::storage::head::sync_dir(dir);
        }
        let body = toml::to_string(self).map_err(|e| Error::Config(format!("retention rules: {e}")))?;
        let text = format!(
            "# orc-log retention rules: written by `orc-log retention set`, applied by `orc-log compact`\n\
             # and by `orc-log serve` in the background. Ages in seconds, sizes in bytes.\n{body}"
        );
        write_durably(dir, &path, text.as_bytes())
    }
}

/// Writes `bytes` to `path` through `path.tmp`, synced, renamed, and the
/// directory synced.
fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("sync", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", &tmp, e))?;
    crate::storage::head::sync_dir(dir)
}

/// The last event whose body compaction expired: time travel to before it
/// would fold stubs, so it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cutoff {
    /// Its seq.
    pub seq: u64,
    /// Its ts, UTC ns.
    pub ts_ns: i64,
}

impl std::fmt::Display for Cutoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (seq {})", format_rfc3339(self.ts_ns), self.seq)
    }
}

impl Cutoff {
    /// Reads `DIR/compacted.json`; `None` when no compaction expired anything.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the file does not parse; I/O errors.
    pub fn load(dir: &Path) -> Result<Option<Cutoff>> {
        let path = dir.join(CUTOFF_FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::corrupt(None, format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    /// Records `self` as the cutoff unless a later one is recorded already.
    ///
    /// **Durability:** on disk when this returns Ok.
    ///
    /// # Errors
    /// As [`Cutoff::load`]; I/O errors.
    pub fn raise(self, dir: &Path) -> Result<()> {
        if Cutoff::load(dir)?.is_some_and(|c| c.seq >= self.seq) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&self).map_err(|e| Error::Config(e.to_string()))?;
        write_durably(dir, &dir.join(CUTOFF_FILE), &bytes)
    }
}

/// What holds back compaction: nothing at or after `seq` expires while the
/// pin is there (the event at `seq` keeps its chain hash for the holder). Backups (`backup create`), `export --append` and running
/// followers pin the last seq they have; a pin of a process that is gone
/// (its `pid` no longer runs) is shown as stale and holds nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// Its name (the file name under `DIR/pins/`, without `.json`).
    pub name: String,
    /// Why, for people: `backup to /mnt/b`, `export --append to ./lake`.
    pub reason: String,
    /// The last seq the holder has; later bodies are kept.
    pub seq: u64,
    /// The process holding it, for pins that last as long as it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When it was last moved, UTC ns.
    pub updated_ns: i64,
}

impl Pin {
    /// Whether the pin holds: it has no process, or its process runs.
    pub fn is_live(&self) -> bool {
        self.pid.is_none_or(|p| Path::new(&format!("/proc/{p}")).exists())
    }

    /// A pin at `seq` of `what` (e.g. a backup's directory), held by no
    /// process, updated now: named `prefix` and a short blake3 of `what`,
    /// so the next pin of the same `what` replaces it.
    pub fn of(prefix: &str, what: &str, reason: String, seq: u64) -> Pin {
        let h = blake3::hash(what.as_bytes());
        Pin {
            name: format!("{prefix}-{}", &h.to_hex()[..16]),
            reason,
            seq,
            pid: None,
            updated_ns: orc_log_schemas::now_ns(),
        }
    }

    /// Stores the pin as `DIR/pins/<name>.json`, replacing one of the same name.
    ///
    /// **Durability:** on disk when this returns Ok.
    ///
    /// # Errors
    /// [`Error::Config`] for a name that is not a plain file name; I/O errors.
    pub fn store(&self, dir: &Path) -> Result<()> {
        if self.name.is_empty() || self.name.contains(['/', '\0']) || self.name.starts_with('.') {
            return Err(Error::Config(format!("pin name {:?} is not a plain file name", self.name)));
        }
        let pins = dir.join(PINS_DIR);
        std::fs::create_dir_all(&pins).map_err(|e| Error::io("create", &pins, e))?;
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        write_durably(&pins, &pins.join(format!("{}.json", self.name)), &bytes)
    }

    /// Removes the pin `name`; whether it was there.
    ///
    /// # Errors
    /// I/O errors.
    pub fn remove(dir: &Path, name: &str) -> Result<bool> {
        let path = dir.join(PINS_DIR).join(format!("{name}.json"));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove", &path, e)),
        }
    }

    /// Every pin under `DIR/pins/`, by name.
    ///
    /// # Errors
    /// [`Error::Config`] naming a pin file that does not parse; I/O errors.
    pub fn list(dir: &Path) -> Result<Vec<Pin>> {
        let pins = dir.join(PINS_DIR);
        let entries = match std::fs::read_dir(&pins) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &pins, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path: PathBuf = entry.map_err(|e| Error::io("list", &pins, e))?.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
            let pin: Pin = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Config(format!("pin {}: {e}", path.display())))?;
            out.push(pin);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// What a set of rules expires in one log, as of one moment: decided per
/// event from its header ([`Plan::expires`]).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The time the ages are measured from, UTC ns.
    pub now_ns: i64,
    /// Per kind: bodies with `ts` before this expire.
    age_before_ns: HashMap<Kind, i64>,
    /// Per kind: bodies at or before this seq expire (`max_count`).
    count_through_seq: HashMap<Kind, u64>,
    /// Bodies at or before this seq expire (`max_bytes`).
    pub bytes_through_seq: Option<u64>,
    /// Nothing at or after this seq expires (the lowest live pin), with why.
    pub pinned: Option<(u64, String)>,
    /// Events the plan expires that still have their bodies.
    pub events: u64,
    /// Their stored bytes now.
    pub stored_bytes: u64,
    /// The runs of consecutive expired events they start (each keeps a
    /// [`RUN_BYTES`] chain hash).
    pub runs: u64,
    /// About what expiring them frees: their stored bytes less
    /// [`STUB_BYTES`] a stub and [`RUN_BYTES`] a run; negative when the
    /// stubs and run hashes take more than the bodies did (small bodies
    /// expiring one by one among kept events).
    pub freed_bytes: i64,
    /// Of those, by kind name: (events, stored bytes).
    pub by_kind: BTreeMap<String, (u64, u64)>,
    /// The last event it expires: the cutoff once compacted.
    pub cutoff: Option<Cutoff>,
    /// Events expired by earlier compactions.
    pub expired_before: u64,
    /// The database's size on disk when planned, in bytes.
    pub disk_bytes: u64,
}

impl Plan {
    /// Whether the plan expires the body of this event (not expired yet).
    pub fn expires(&self, m: &EventMeta) -> bool {
        if self.holds(m) {
            return false;
        }
        self.age_before_ns.get(&m.kind).is_some_and(|t| m.ts_ns < *t)
            || self.count_through_seq.get(&m.kind).is_some_and(|s| m.seq <= *s)
            || self.bytes_through_seq.is_some_and(|s| m.seq <= s)
    }
}

impl Plan {
    /// Whether no rule may expire this event: expired already, a kind that
    /// never expires, or at or after the pin.
    fn holds(&self, m: &EventMeta) -> bool {
        m.expired || NEVER_EXPIRES.contains(&m.kind) || self.pinned.as_ref().is_some_and(|(p, _)| m.seq >= *p)
    }
}

impl Snapshot {
    /// Plans `rules` for this log at `now_ns`, holding back at `pins` (the
    /// live ones count). Reads every frame header twice (no body is
    /// decompressed).
    ///
    /// # Errors
    /// Read errors.
    pub fn retention_plan(&self, rules: &Rules, now_ns: i64, pins: &[Pin]) -> Result<Plan> {
        let mut plan = Plan { now_ns, disk_bytes: self.disk_bytes()?, ..Plan::default() };
        plan.pinned = pins
            .iter()
            .filter(|p| p.is_live())
            .min_by_key(|p| p.seq)
            .map(|p| (p.seq, format!("{} ({})", p.reason, p.name)));
        let mut totals: HashMap<Kind, u64> = HashMap::new();
        self.for_each_meta(&Filter::default(), |m| {
            *totals.entry(m.kind).or_default() += 1;
            Ok::<_, Error>(true)
        })?;
        // The seq of the event before the newest `max_count` of each kind.
        let mut skip: HashMap<Kind, u64> = HashMap::new();
        for (&kind, &total) in &totals {
            let Some(rule) = rules.for_kind(kind) else { continue };
            if let Some(age) = rule.max_age_secs {
                let age_ns = i64::try_from(age.saturating_mul(1_000_000_000)).unwrap_or(i64::MAX);
                plan.age_before_ns.insert(kind, now_ns.saturating_sub(age_ns));
            }
            if let Some(n) = rule.max_count.filter(|n| total > *n) {
                skip.insert(kind, total - n);
            }
        }
        // Like Kafka's retention.bytes: the log's data (the segments), not
        // the index or the projection checkpoints.
        let need = match rules.max_bytes {
            Some(m) => self.segment_bytes()?.saturating_sub(m),
            None => 0,
        };
        let mut saved = 0u64;
        let mut seen: HashMap<Kind, u64> = HashMap::new();
        // Whether the event before is expired or expires: a new run starts
        // where it is not.
        let mut after_gone = false;
        self.for_each_meta(&Filter::default(), |m| {
            let n = seen.entry(m.kind).or_default();
            *n += 1;
            if skip.get(&m.kind).is_some_and(|s| *n == *s) {
                plan.count_through_seq.insert(m.kind, m.seq);
            }
            if m.expired {
                plan.expired_before += 1;
                after_gone = true;
                return Ok::<_, Error>(true);
            }
            let by_count = skip.get(&m.kind).is_some_and(|s| *n <= *s);
            let mut expires = !plan.holds(&m) && (by_count || plan.expires(&m));
            if !expires && saved < need && !plan.holds(&m) {
                plan.bytes_through_seq = Some(m.seq);
                expires = true;
            }
            if expires {
                let cost = STUB_BYTES + if after_gone { 0 } else { RUN_BYTES };
                plan.runs += u64::from(!after_gone);
                plan.freed_bytes += m.stored_bytes as i64 - cost as i64;
                saved = saved.saturating_add_signed(m.stored_bytes as i64 - cost as i64);
                plan.events += 1;
                plan.stored_bytes += m.stored_bytes;
                let k = plan.by_kind.entry(m.kind.as_str().to_owned()).or_default();
                k.0 += 1;
                k.1 += m.stored_bytes;
                plan.cutoff = Some(Cutoff { seq: m.seq, ts_ns: m.ts_ns });
            }
            after_gone = expires;
            Ok(true)
        })?;
        Ok(plan)
    }
}

/// What [`SharedLog::compact`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Bodies expired (stubs written).
    pub expired: u64,
    /// Segments rewritten.
    pub segments: u64,
    /// Bytes of the database on disk before and after.
    pub bytes_before: u64,
    /// See `bytes_before`.
    pub bytes_after: u64,
}

impl SharedLog {
    /// Every pin of this database: the files under `DIR/pins/` (backups,
    /// `export --append`) and the running followers of this process.
    ///
    /// # Errors
    /// As [`Pin::list`].
    pub fn pins(&self) -> Result<Vec<Pin>> {
        let mut pins = Pin::list(self.dir())?;
        let followers = self.follower_positions();
        if let Some(next) = followers.iter().min() {
            pins.push(Pin {
                name: "followers".into(),
                reason: format!("{} running follower(s) in this process", followers.len()),
                seq: next.saturating_sub(1),
                pid: None,
                updated_ns: orc_log_schemas::now_ns(),
            });
        }
        Ok(pins)
    }

    /// Expires the bodies `plan` selects: records the plan's cutoff
    /// ([`Cutoff::raise`]), seals the closed segments, then rewrites each
    /// sealed segment holding a body to expire (prepared off the writer,
    /// switched in under it, as a seal is), each expired body replaced by
    /// its stub ([`orc_log_schemas::EventBody::expired_stub`]) and its
    /// frame flagged expired with the digest the chain took. Bodies in the
    /// segment appends go to are left for the next run. Appends go on,
    /// waiting only for each switch. `progress(done, total)` is called per
    /// segment.
    ///
    /// The caller keeps what time travel needs first: projection
    /// checkpoints at the head and at the cutoff (the CLI and `serve` do).
    ///
    /// **Durability:** each rewritten segment and its index are on disk
    /// before the next starts; a crash at any moment leaves each segment
    /// whole, old or rewritten, and every event in place (run it again to
    /// finish).
    ///
    /// # Errors
    /// Refusals as for appends; [`Error::Corrupt`] when a segment does not
    /// check (it is left as it was); store and I/O errors.
    pub fn compact(&self, plan: &Plan, progress: &mut dyn FnMut(u64, u64)) -> Result<CompactReport> {
        let mut report = CompactReport { bytes_before: self.snapshot().disk_bytes()?, ..Default::default() };
        let Some(cutoff) = plan.cutoff else {
            report.bytes_after = report.bytes_before;
            return Ok(report);
        };
        cutoff.raise(self.dir())?;
        let active = self.seal_for_rewrite()?;
        let list = self.snapshot().segs.list()?;
        // The sealed segments before the one appends go to.
        let segments: Vec<(u64, u64)> = list
            .windows(2)
            .map(|w| (w[0], w[1]))
            .filter(|(first, end)| *first <= cutoff.seq && *end <= active)
            .collect();
        let total = segments.len() as u64;
        for (i, &(first, end)) in segments.iter().enumerate() {
            let edits = stubs(&self.snapshot(), first, end - 1, plan)?;
            if !edits.is_empty() {
                report.expired += edits.len() as u64;
                report.segments += 1;
                self.rewrite_segment(first, end, &edits)?;
            }
            progress(i as u64 + 1, total);
        }
        report.bytes_after = self.snapshot().disk_bytes()?;
        Ok(report)
    }
}

/// The stubs of the bodies `plan` expires in seqs `first..=last`.
fn stubs(snap: &Snapshot, first: u64, last: u64, plan: &Plan) -> Result<HashMap<u64, BodyEdit>> {
    let range = Filter { from_seq: first, until_seq: Some(last), ..Filter::default() };
    let mut wanted = Vec::new();
    snap.for_each_meta(&range, |m| {
        if plan.expires(&m) {
            wanted.push(m.seq);
        }
        Ok::<_, Error>(true)
    })?;
    let mut out = HashMap::with_capacity(wanted.len());
    if wanted.is_empty() {
        return Ok(out);
    }
    let range = Filter { from_seq: wanted[0], until_seq: wanted.last().copied(), ..Filter::default() };
    let mut next = wanted.iter().peekable();
    snap.for_each_record(&range, |r| {
        if next.peek().is_some_and(|s| **s == r.seq) {
            next.next();
            let stub =
                Event { ts_ns: r.event.ts_ns, id: r.event.id.clone(), body: r.event.body.expired_stub() };
            let mut raw = Vec::new();
            codec::encode_body(&stub, &mut raw)?;
            out.insert(r.seq, BodyEdit { raw, expired: true });
        }
        Ok::<_, Error>(next.peek().is_some())
    })?;
    Ok(out)
}
