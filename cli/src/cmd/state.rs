//! `orc-log state`: sessions, panes and schedules now or at a point in the log.

use super::point::{Point, PointArgs};
use crate::ctx::Io;
use anyhow::Result;
use orc_log_engine::SharedLog;
use orc_log_projections::state::{DEFAULT_IDLE_SECS, StateView};

/// Show the state projection: every session and pane (target, window name,
/// agent, role, status active|idle|crashed|closed, counts, working directory
/// and foreground command; JSON adds the command line and the window
/// layout, as `session record` last saw them) and the schedules
/// (pending|fired|overdue): every pending one and, per pane, the overdue ones
/// up to ten minutes past due, the newest four older ones and the last two
/// fired (the whole history: `orc-log query` on `schedules`).
///
/// Without --at/--until-seq the projection is brought from its checkpoint to
/// the head and statuses are judged against the current time. With --at TIME
/// it is the log prefix up to TIME, judged at TIME; with --until-seq N it is
/// events 1..=N, judged at the time of event N. Both fold from the nearest
/// checkpoint before that point (one is kept every 50,000 events). On a damaged log it shows
/// the state as of the last event that reads back intact, says where
/// reading stopped on stderr, and exits 1.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    point: PointArgs,
    /// A pane whose content has not changed for this many seconds is idle.
    #[arg(long, default_value_t = DEFAULT_IDLE_SECS, value_name = "SECS")]
    idle_secs: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Tables for people.
    Table,
    /// `{"seq": N, "sessions": [...], "schedules": [...]}`.
    Json,
}

/// Runs `orc-log state`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let point = args.point.resolve(&db.snapshot())?;
    let ((state, as_of), damage) =
        super::point::project_intact::<orc_log_projections::state::State>(db, point)?;
    let view = state.view(as_of, args.idle_secs);
    match args.format {
        Format::Json => writeln!(io.out, "{}", serde_json::to_string(&view)?)?,
        Format::Table => print_tables(&view, point, io)?,
    }
    Ok(crate::db::exit_status(io.err, damage.as_ref())?)
}

fn print_tables(view: &StateView, point: Point, io: &mut Io) -> std::io::Result<()> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    writeln!(io.out, "state at seq {}{}", view.seq, point.describe())?;
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header([
        "session",
        "target",
        "window",
        "agent",
        "role",
        "status",
        "captures",
        "crashes",
        "msgs in",
        "msgs out",
        "last capture",
        "dir",
        "command",
        "cost today",
    ]);
    for s in &view.sessions {
        if s.panes.is_empty() {
            t.add_row(vec![format!("{} ({})", s.name, if s.open { "open" } else { "closed" })]);
        }
        for p in &s.panes {
            t.add_row(vec![
                format!("{} ({})", s.name, if s.open { "open" } else { "closed" }),
                p.target.clone(),
                opt(&p.name),
                opt(&p.agent),
                opt(&p.role),
                p.status.clone(),
                p.captures.to_string(),
                p.crashes.to_string(),
                p.messages_in.to_string(),
                p.messages_out.to_string(),
                opt(&p.last_capture_ts),
                opt(&p.cwd),
                opt(&p.command),
                p.usage.as_ref().map_or_else(
                    || "-".to_owned(),
                    |u| format!("${:.2} ({} tok)", u.cost_today_usd.dollars(), u.tokens_today),
                ),
            ]);
        }
    }
    writeln!(io.out, "{t}")?;
    if !view.schedules.is_empty() {
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(["seq", "target", "due", "status", "note"]);
        for s in &view.schedules {
            t.add_row(vec![
                s.seq.to_string(),
                s.target.clone(),
                s.due.clone(),
                s.status.clone(),
                s.note.clone(),
            ]);
        }
        writeln!(io.out, "schedules\n{t}")?;
    }
    Ok(())
}
