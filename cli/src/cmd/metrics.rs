//! `orc-log metrics`: the metrics projection as a table, JSON or Prometheus text.

use super::point::PointArgs;
use crate::ctx::Io;
use anyhow::Result;
use orc_log_engine::SharedLog;
use orc_log_projections::metrics::Metrics;
use orc_log_projections::prometheus;

/// Show metrics: events by kind, stored/raw bytes, captures, crashes and
/// messages by pane, schedules by status, and the message-to-response
/// latency histogram (seconds from a message to the pane's next content change).
///
/// `--format prometheus` writes the Prometheus text exposition format, e.g. for
/// node_exporter's textfile collector:
/// `orc-log metrics --format prometheus > /var/lib/node_exporter/orc_log.prom`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    point: PointArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// A table for people.
    Table,
    /// `{"seq": N, "families": [{"name", "help", "type", "samples": [...]}]}`.
    Json,
    /// Prometheus text exposition format 0.0.4.
    Prometheus,
}

/// Runs `orc-log metrics`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let point = args.point.resolve(&db.snapshot())?;
    let ((metrics, as_of), damage) = super::point::project_intact::<Metrics>(db, point)?;
    let families = metrics.families(as_of);
    match args.format {
        Format::Prometheus => write!(io.out, "{}", prometheus::render(&families))?,
        Format::Json => {
            writeln!(io.out, "{}", serde_json::json!({"seq": metrics.seq(), "families": families}))?;
        }
        Format::Table => {
            writeln!(io.out, "metrics at seq {}{}", metrics.seq(), point.describe())?;
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(["metric", "labels", "value"]);
            for f in &families {
                for s in &f.samples {
                    let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    t.add_row(vec![s.name.clone(), labels.join(" "), format!("{}", s.value)]);
                }
            }
            if let Some(c) = t.column_mut(2) {
                c.set_cell_alignment(comfy_table::CellAlignment::Right);
            }
            writeln!(io.out, "{t}")?;
        }
    }
    Ok(crate::db::exit_status(io.err, damage.as_ref())?)
}
