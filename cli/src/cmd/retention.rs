//! `orc-log retention`: the rules `compact` and `serve` apply (kept in
//! `DIR/retention.toml`), and what pins the log.

use crate::ctx::Io;
use anyhow::{Context, Result, bail};
use orc_log_engine::SharedLog;
use orc_log_engine::retention::{ALL_KINDS, Cutoff, KindRule, Pin, Rules};
use orc_log_schemas::{Kind, format_rfc3339};

/// Keep captures for 14 days, messages for a year, the events under 20 GiB.
///
/// Rules say how long (`--max-age`) or how many (`--max-count`) events of a
/// kind keep their bodies, or how much disk the events may take
/// (`--max-bytes`). `orc-log compact` applies them, and `orc-log serve` does
/// in the background: an expired body is replaced by a stub (its seq, time,
/// kind and target stay, and the hash chain keeps what `verify` and `verify
/// --trusted` need to prove every kept event), and the disk space is freed.
/// `redaction` events never expire.
///
/// What a backup (`backup create`), an `export --append` cursor or a
/// running follower has not read yet is pinned: it keeps its body until
/// they have it. `retention show` lists the pins; `retention unpin` drops
/// one that is no longer wanted (a backup directory you removed).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    Set(SetArgs),
    /// The rules, what pins the log (and why), the cutoff, and what would
    /// expire now.
    Show,
    Clear(ClearArgs),
    Unpin(UnpinArgs),
}

/// Add or change a rule (the other rules stay).
///
/// Examples:
///   orc-log retention set --kind capture --max-age 14d
///   orc-log retention set --kind all --max-age 1y --max-count 5000000
///   orc-log retention set --max-bytes 20GiB
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("per_kind").multiple(true)), verbatim_doc_comment)]
struct SetArgs {
    /// The kind the rule is for (`capture`, `message`, ...), or `all` for
    /// every kind without a rule of its own.
    #[arg(long, value_name = "KIND", requires = "per_kind", value_parser = kind_key)]
    kind: Option<String>,
    /// Bodies older than this expire: a duration with a unit (`1h`, `14d`, `2w`, `1y`).
    #[arg(long, value_name = "DUR", value_parser = super::parse_duration, group = "per_kind")]
    max_age: Option<std::time::Duration>,
    /// Only the newest N events of the kind keep their bodies (with
    /// `--kind all`: of each kind, counted separately).
    #[arg(long, value_name = "N", group = "per_kind")]
    max_count: Option<u64>,
    /// The events on disk (the segment files; not the index or the
    /// projection checkpoints): when they take more, the oldest bodies
    /// expire until they fit (`500MB`, `20GiB`; bytes without a unit).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, conflicts_with = "kind")]
    max_bytes: Option<u64>,
}

/// Remove rules: all of them, one kind's, or the size limit.
#[derive(Debug, clap::Args)]
struct ClearArgs {
    /// Remove only this kind's rule (or `all`).
    #[arg(long, value_name = "KIND", value_parser = kind_key)]
    kind: Option<String>,
    /// Remove only the size limit.
    #[arg(long, conflicts_with = "kind")]
    max_bytes: bool,
}

/// Remove a pin by name (as `retention show` lists it), e.g. of a backup
/// directory that no longer exists. A live backup or export pins again the
/// next time it runs.
#[derive(Debug, clap::Args)]
struct UnpinArgs {
    /// The pin's name.
    name: String,
}

/// `orc-log retention`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let dir = db.dir();
    match args.command {
        Sub::Set(a) => {
            if a.kind.is_none() && a.max_bytes.is_none() {
                bail!("give --kind KIND with --max-age or --max-count, or --max-bytes SIZE");
            }
            let mut rules = Rules::load(dir)?.unwrap_or_default();
            if let Some(kind) = a.kind {
                let rule = rules.kind.entry(kind).or_default();
                if let Some(age) = a.max_age {
                    rule.max_age_secs = Some(age.as_secs().max(1));
                }
                if let Some(n) = a.max_count {
                    rule.max_count = Some(n);
                }
            }
            if let Some(b) = a.max_bytes {
                rules.max_bytes = Some(b);
            }
            rules.save(dir).context("the rule was not saved")?;
            show_rules(&rules, io)?;
            writeln!(
                io.out,
                "applied by `orc-log compact`, and by `orc-log serve` in the background; `orc-log compact --dry-run` shows what expires now"
            )?;
        }
        Sub::Clear(a) if a.kind.is_none() && !a.max_bytes => {
            // Works on a file that no longer parses, too.
            Rules::default().save(dir)?;
            show_rules(&Rules::default(), io)?;
        }
        Sub::Clear(a) => {
            let mut rules = Rules::load(dir)?.unwrap_or_default();
            if let Some(kind) = a.kind {
                if rules.kind.remove(&kind).is_none() {
                    bail!("there is no rule for kind {kind}");
                }
            } else if rules.max_bytes.take().is_none() {
                bail!("there is no --max-bytes rule");
            }
            rules.save(dir)?;
            show_rules(&rules, io)?;
        }
        Sub::Unpin(a) => {
            if !Pin::remove(dir, &a.name)? {
                bail!("there is no pin named {:?} (see `orc-log retention show`)", a.name);
            }
            writeln!(io.out, "removed pin {}", a.name)?;
        }
        Sub::Show => show(db, io)?,
    }
    Ok(0)
}

/// The rules, the pins, the cutoff and what would expire now.
fn show(db: &SharedLog, io: &mut Io) -> Result<()> {
    let dir = db.dir();
    let rules = Rules::load(dir)?.unwrap_or_default();
    show_rules(&rules, io)?;
    let pins = db.pins()?;
    if pins.is_empty() {
        writeln!(io.out, "pins: none")?;
    } else {
        writeln!(io.out, "pins (nothing after a live pin's seq expires):")?;
        for p in &pins {
            writeln!(
                io.out,
                "  {:<28} seq {:<10} {}{} (updated {})",
                p.name,
                p.seq,
                p.reason,
                if p.is_live() { "" } else { " [stale: its process is gone; holds nothing]" },
                format_rfc3339(p.updated_ns)
            )?;
        }
    }
    match Cutoff::load(dir)? {
        Some(c) => writeln!(io.out, "cutoff: {c}; time travel before it is refused")?,
        None => writeln!(io.out, "cutoff: none (nothing has expired)")?,
    }
    if !rules.is_empty() {
        let plan = db.snapshot().retention_plan(&rules, orc_log_schemas::now_ns(), &pins)?;
        super::compact::describe_plan(&plan, io)?;
    }
    Ok(())
}

/// Prints the rules, one per line.
fn show_rules(rules: &Rules, io: &mut Io) -> Result<()> {
    if rules.is_empty() {
        writeln!(io.out, "rules: none (every event keeps its body)")?;
        return Ok(());
    }
    writeln!(io.out, "rules:")?;
    for (kind, rule) in &rules.kind {
        writeln!(io.out, "  {kind:<16} {}", describe_rule(rule))?;
    }
    if let Some(b) = rules.max_bytes {
        writeln!(io.out, "  {:<16} the database under {}", "max-bytes", size(b))?;
    }
    Ok(())
}

fn describe_rule(rule: &KindRule) -> String {
    let mut parts = Vec::new();
    if let Some(s) = rule.max_age_secs {
        parts.push(format!("max-age {}", humantime::format_duration(std::time::Duration::from_secs(s))));
    }
    if let Some(n) = rule.max_count {
        parts.push(format!("max-count {n}"));
    }
    parts.join(", ")
}

/// clap value parser of `--kind`: `all` or a kind name.
fn kind_key(kind: &str) -> std::result::Result<String, String> {
    let kind = kind.trim();
    if kind == ALL_KINDS {
        return Ok(kind.to_owned());
    }
    super::parse_kind(kind).map(|k: Kind| k.as_str().to_owned()).map_err(|e| format!("{e}, or all"))
}

/// A byte size for people: `1.5 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// clap value parser of `--max-bytes`: a number with an optional unit,
/// decimal (`kB`, `MB`, `GB`, `TB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`);
/// bytes without one.
///
/// # Errors
/// A message naming the value and the accepted units.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("{s:?} is not a size; e.g. 500MB, 20GiB, 1048576 (bytes)");
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        _ => return Err(bad()),
    };
    let v = n * mult;
    if !v.is_finite() || v < 0.0 || v >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("20GiB"), Ok(20 << 30));
        assert_eq!(parse_size("1.5 kib"), Ok(1536));
        assert!(parse_size("ten").unwrap_err().contains("\"ten\""));
        assert!(parse_size("5PB").is_err());
        assert_eq!(size(1536), "1.5 KiB");
    }
}
