//! `orc-log compact`: apply the retention rules now and free the space.

use super::retention::size;
use crate::ctx::Io;
use anyhow::{Context, Result, bail};
use orc_log_engine::SharedLog;
use orc_log_engine::retention::{CompactReport, Cutoff, Plan, Rules};
use orc_log_projections::ProjectionError;
use orc_log_projections::metrics::Metrics;
use orc_log_projections::state::State;

/// Apply the retention rules (`orc-log retention set`) now: every body they
/// expire becomes a stub and its disk space is freed.
///
/// A stub keeps the event's seq, time, kind and target; the hash chain
/// keeps the hash after each run of expired events (and at every seq a
/// `checkpoint` note was issued at), so `verify` (and `verify --trusted`
/// against a checkpoint taken before) still proves every kept event.
/// In SQL the row stays, with `expired` true and its content NULL. Nothing
/// after a pin's seq expires (`retention show` lists the pins).
///
/// Before anything expires, the projections (`state`, `metrics`) are
/// brought to the head and a time-travel checkpoint is kept at the new
/// cutoff (the last expired event), so `state` now and `state --at` any
/// time after the cutoff are what they were; `state --at` and `restore
/// --at` before it are refused, naming it.
///
/// Each segment holding an expired body is rewritten with the seal's
/// crash-safe steps: safe to `kill -9` at any moment (run it again to
/// finish). Appends go on meanwhile. `orc-log serve` compacts by itself
/// (`--compact-every`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show what would expire (events and bytes by kind, the pin holding
    /// back) and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `orc-log compact`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let Some(rules) = Rules::load(db.dir())? else {
        bail!(
            "no retention rules: set some first, e.g. `orc-log retention set --kind capture --max-age 14d`"
        );
    };
    let plan = plan(db, &rules)?;
    describe_plan(&plan, io)?;
    if args.dry_run {
        writeln!(io.out, "dry run: nothing was changed")?;
        return Ok(0);
    }
    if plan.cutoff.is_none() {
        return Ok(0);
    }
    let bar = if !io.served && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} compacting segments {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (report, warning) = apply(db, &plan, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if let Some(w) = warning {
        writeln!(io.err, "orc-log: warning: {w}")?;
    }
    writeln!(
        io.out,
        "expired {} bodies in {} segments; {} -> {} on disk ({})",
        report.expired,
        report.segments,
        size(report.bytes_before),
        size(report.bytes_after),
        percent(report.bytes_before, report.bytes_after)
    )?;
    if let Some(c) = Cutoff::load(db.dir())? {
        writeln!(io.out, "cutoff: {c}; `state --at` and `restore --at` before it are refused")?;
    }
    Ok(0)
}

/// The plan of `rules` for `db` now, held back by its pins.
///
/// # Errors
/// Read errors.
pub fn plan(db: &SharedLog, rules: &Rules) -> Result<Plan> {
    let pins = db.pins()?;
    Ok(db.snapshot().retention_plan(rules, orc_log_schemas::now_ns(), &pins)?)
}

/// Applies `plan`: keeps the projections' checkpoints (at the head and at
/// the new cutoff), then compacts. Returns the report and a warning when a
/// time-travel checkpoint could not be kept (an earlier compaction left
/// none at its cutoff: time travel between the two cutoffs is then
/// refused, not wrong).
///
/// **Durability:** as `SharedLog::compact`.
///
/// # Errors
/// Projection and log errors.
pub fn apply(
    db: &SharedLog,
    plan: &Plan,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(CompactReport, Option<String>)> {
    let mut warning = None;
    if let Some(cutoff) = plan.cutoff {
        for kept in [
            orc_log_projections::keep_for_compaction::<State>(db, cutoff),
            orc_log_projections::keep_for_compaction::<Metrics>(db, cutoff),
        ] {
            match kept {
                Ok(()) => {}
                Err(e @ ProjectionError::BeforeCutoff { .. }) => {
                    cutoff.raise(db.dir())?;
                    warning = Some(e.to_string());
                }
                Err(e) => return Err(e).context("keeping the projections' checkpoints before compacting"),
            }
        }
    }
    let report = db.compact(plan, progress).context("compacting")?;
    Ok((report, warning))
}

/// Prints what `plan` expires.
pub fn describe_plan(plan: &Plan, io: &mut Io) -> Result<()> {
    if plan.events == 0 {
        writeln!(io.out, "nothing to expire now ({} bodies expired before)", plan.expired_before)?;
    } else {
        writeln!(
            io.out,
            "to expire: {} bodies, {} of {} on disk ({} expired before)",
            plan.events,
            size(plan.stored_bytes),
            size(plan.disk_bytes),
            plan.expired_before,
        )?;
        let freed = match u64::try_from(plan.freed_bytes) {
            Ok(b) if b > 0 => format!("frees about {}", size(b)),
            _ => "frees about nothing".to_owned(),
        };
        writeln!(
            io.out,
            "{freed}: each stub keeps a few bytes, and each of the {} runs of expired events a 32-byte chain hash",
            plan.runs
        )?;
        for (kind, (n, bytes)) in &plan.by_kind {
            writeln!(io.out, "  {kind:<16} {n:>10} bodies {:>12}", size(*bytes))?;
        }
        if let Some(c) = plan.cutoff {
            writeln!(io.out, "new cutoff: {c}")?;
        }
    }
    if let Some((seq, why)) = &plan.pinned {
        writeln!(io.out, "held back after seq {seq} by {why}")?;
    }
    Ok(())
}

fn percent(before: u64, after: u64) -> String {
    if before == 0 {
        return "0%".into();
    }
    let change = (after as f64 - before as f64) / before as f64 * 100.0;
    format!("{change:+.1}%")
}
