//! `--at TIME | --until-seq N`: which log prefix a projection command shows.

use anyhow::{Context, Result, bail};
use orc_log_engine::{SharedLog, Snapshot};
use orc_log_projections::{Projection, catch_up, travel};
use orc_log_schemas::{format_rfc3339, now_ns};

/// The point-in-time flags shared by `state`, `metrics` and `replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct PointArgs {
    /// The log prefix up to TIME (RFC 3339, a duration before now such as 10m, or now): it ends just before
    /// the first event whose ts is later than TIME.
    #[arg(long, value_parser = super::parse_time, conflicts_with = "until_seq", value_name = "TIME")]
    at: Option<i64>,
    /// Events 1..=N.
    #[arg(long, value_name = "N")]
    until_seq: Option<u64>,
}

/// A resolved point: the last seq and the time statuses are judged at.
#[derive(Debug, Clone, Copy)]
pub enum Point {
    /// The head, judged now.
    Head,
    /// `--at`: events up to `seq`, judged at `at_ns`.
    At { seq: u64, at_ns: i64 },
    /// `--until-seq`: events 1..=seq.
    UntilSeq { seq: u64 },
}

impl Point {
    /// ` (--at ...)` or empty, for headings.
    pub fn describe(&self) -> String {
        match self {
            Point::Head => String::new(),
            Point::At { at_ns, .. } => format!(" (as of {})", format_rfc3339(*at_ns)),
            Point::UntilSeq { seq } => format!(" (--until-seq {seq})"),
        }
    }

    /// The last seq of the prefix, `None` for the head.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Point::Head => None,
            Point::At { seq, .. } | Point::UntilSeq { seq } => Some(*seq),
        }
    }
}

impl PointArgs {
    /// Checks the flags against the log.
    ///
    /// # Errors
    /// `--until-seq` past the head or 0.
    pub fn resolve(&self, log: &Snapshot) -> Result<Point> {
        let head = log.head().seq;
        match (self.at, self.until_seq) {
            (Some(at_ns), _) => Ok(Point::At { seq: log.seq_at_time(at_ns)?, at_ns }),
            (None, Some(0)) => bail!("--until-seq must be at least 1"),
            (None, Some(n)) if n > head => {
                bail!("--until-seq {n} is past the end of the log (last seq {head})")
            }
            (None, Some(n)) => Ok(Point::UntilSeq { seq: n }),
            (None, None) => Ok(Point::Head),
        }
    }
}

/// Brings projection `P` to `point`; returns it and the time to judge statuses at.
/// A point before the head folds from the nearest checkpoint at or before it
/// (storing the time-travel checkpoints it passes): at most
/// `P::HISTORY_EVERY` events in the recent past.
///
/// # Errors
/// Projection and log errors.
pub fn project<P: Projection>(log: &SharedLog, point: Point) -> Result<(P, i64)> {
    let context = || format!("projection {}", P::NAME);
    match point {
        Point::Head => Ok((catch_up::<P>(log).with_context(context)?.projection, now_ns())),
        Point::At { seq, at_ns } => Ok((travel::<P>(log, seq).with_context(context)?.projection, at_ns)),
        Point::UntilSeq { seq } => {
            let at = log.snapshot().get(seq)?.map_or(now_ns(), |r| r.event.ts_ns);
            Ok((travel::<P>(log, seq).with_context(context)?.projection, at))
        }
    }
}

/// [`project`] over what reads back intact: when the log is damaged before
/// `point`, `P` as of the last event before the damage (statuses still
/// judged now for [`Point::Head`]), and the damage to report
/// ([`crate::db::report_damage`]).
///
/// # Errors
/// As [`project`], for errors other than damage.
pub fn project_intact<P: Projection>(
    log: &SharedLog,
    point: Point,
) -> Result<((P, i64), Option<crate::db::Damaged>)> {
    crate::db::read_intact(|intact| match intact {
        None => project::<P>(log, point),
        Some(last) => {
            let seq = point.seq().map_or(last, |s| s.min(last));
            let (p, at) = project::<P>(log, Point::UntilSeq { seq })?;
            let at = match point {
                Point::Head => now_ns(),
                Point::At { at_ns, .. } => at_ns,
                Point::UntilSeq { .. } => at,
            };
            Ok((p, at))
        }
    })
}
