//! `orc-log replay`: rebuild projections from the log, from scratch.

use super::point::PointArgs;
use crate::ctx::Io;
use anyhow::{Context, Result};
use orc_log_engine::SharedLog;
use orc_log_projections::metrics::Metrics;
use orc_log_projections::state::{DEFAULT_IDLE_SECS, State};
use orc_log_projections::{Outcome, Projection, rebuild, rebuild_pair};
use std::time::Instant;

/// Rebuild projections from seq 1, ignoring checkpoints, and print the
/// throughput (events/s) and a summary of the result. Without --at/--until-seq
/// the rebuilt projections replace the stored checkpoints.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which projection.
    #[arg(long, value_enum, default_value_t = Which::All)]
    projection: Which,
    #[command(flatten)]
    point: PointArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Which {
    /// Sessions, panes and schedules.
    State,
    /// Counters and the response histogram.
    Metrics,
    /// Both.
    All,
}

fn run_one<P: Projection>(db: &SharedLog, until: Option<u64>, io: &mut Io) -> Result<(Outcome<P>, f64)> {
    let start = Instant::now();
    // A bounded replay (`until`) neither uses nor stores a checkpoint.
    let out = rebuild::<P>(db, until).with_context(|| format!("projection {}", P::NAME))?;
    let secs = start.elapsed().as_secs_f64();
    let rate = if secs > 0.0 { out.applied as f64 / secs } else { 0.0 };
    writeln!(
        io.out,
        "{}: replayed {} events to seq {} in {secs:.3} s ({rate:.0} events/s)",
        P::NAME,
        out.applied,
        out.seq
    )?;
    Ok((out, secs))
}

/// Runs `orc-log replay`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let point = args.point.resolve(&db.snapshot())?;
    let until = point.seq();
    let as_of = match point {
        super::point::Point::At { at_ns, .. } => at_ns,
        _ => orc_log_schemas::now_ns(),
    };
    let (state, metrics) = match args.projection {
        Which::State => (Some(run_one::<State>(db, until, io)?.0), None),
        Which::Metrics => (None, Some(run_one::<Metrics>(db, until, io)?.0)),
        Which::All => {
            // One pass over the log feeds both projections.
            let start = Instant::now();
            let (s, m) =
                rebuild_pair::<State, Metrics>(db, until).context("projections state and metrics")?;
            let secs = start.elapsed().as_secs_f64();
            let rate = if secs > 0.0 { s.applied as f64 / secs } else { 0.0 };
            for name in [State::NAME, Metrics::NAME] {
                writeln!(
                    io.out,
                    "{name}: replayed {} events to seq {} in {secs:.3} s ({rate:.0} events/s, one pass for both)",
                    s.applied, s.seq
                )?;
            }
            (Some(s), Some(m))
        }
    };
    if let Some(out) = state {
        let view = out.projection.view(as_of, DEFAULT_IDLE_SECS);
        let panes: usize = view.sessions.iter().map(|s| s.panes.len()).sum();
        let mut by_status = std::collections::BTreeMap::new();
        for p in view.sessions.iter().flat_map(|s| &s.panes) {
            *by_status.entry(p.status.as_str()).or_insert(0) += 1;
        }
        let statuses: Vec<String> = by_status.iter().map(|(k, v)| format!("{v} {k}")).collect();
        writeln!(
            io.out,
            "  {} sessions ({} open), {panes} panes ({}), {} schedules",
            view.sessions.len(),
            view.sessions.iter().filter(|s| s.open).count(),
            statuses.join(", "),
            view.schedules.len()
        )?;
    }
    if let Some(out) = metrics {
        for f in out.projection.families(as_of) {
            if f.name == "orc_log_events_total" {
                let parts: Vec<String> = f
                    .samples
                    .iter()
                    .map(|s| format!("{} {}", s.labels.first().map_or("", |l| l.1.as_str()), s.value))
                    .collect();
                writeln!(io.out, "  events by kind: {}", parts.join(", "))?;
            }
        }
    }
    Ok(0)
}
