//! `orc-log emit`: append one event from a script.

use anyhow::{Context, Result};
use clap::Subcommand;
use orc_log_schemas::{Event, EventBody, Target, ndjson::MAX_ID_BYTES, now_ns};
use orc_log_tmux::redact::redact;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Append one event. Exit status 0 means it is durably in the log; the new
/// seq is printed on stdout.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
    /// Event time (RFC 3339, a duration before now such as 10m, or now) [default: now].
    #[arg(long, global = true, value_parser = super::parse_time, value_name = "TIME")]
    ts: Option<i64>,
    /// Producer id (at most 128 bytes): an event whose id is already in the log
    /// is not appended again, so a script may safely retry.
    #[arg(long, global = true, value_parser = parse_id, value_name = "ID")]
    id: Option<String>,
    /// Store message and capture text as given, without redacting secrets
    /// (AWS keys, GitHub tokens, `sk-` API keys, bearer tokens, private keys).
    #[arg(long, global = true)]
    no_redact: bool,
}

fn parse_id(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > MAX_ID_BYTES {
        Err(format!("must be 1 to {MAX_ID_BYTES} bytes, got {}", s.len()))
    } else {
        Ok(s.to_owned())
    }
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() { Err("must not be empty".into()) } else { Ok(s.to_owned()) }
}

#[derive(Debug, Subcommand)]
enum Kind {
    /// A message typed into a pane.
    Message {
        /// Sender: an agent name or target.
        #[arg(long, value_parser = non_empty)]
        from: String,
        /// Recipient pane, `session:window.pane`.
        #[arg(long)]
        to: Target,
        /// The text.
        #[arg(long)]
        text: String,
    },
    /// A check-in scheduled for later.
    Schedule {
        /// Pane the check-in is for.
        #[arg(long)]
        target: Target,
        /// What the check-in is about.
        #[arg(long)]
        note: String,
        /// When it is due (RFC 3339, a duration before now such as 10m, or now).
        #[arg(long, value_parser = super::parse_time, conflicts_with = "in_", required_unless_present = "in_", value_name = "TIME")]
        due: Option<i64>,
        /// Due after this long from now, e.g. `15m`, `90s`.
        #[arg(long = "in", id = "in_", value_parser = super::parse_duration, value_name = "DURATION")]
        in_: Option<Duration>,
    },
    /// A scheduled check-in fired.
    ScheduleFired {
        /// Pane the check-in was for.
        #[arg(long)]
        target: Target,
        /// Its note.
        #[arg(long)]
        note: Option<String>,
    },
    /// A crash signal for a pane.
    Crash {
        /// The pane that crashed.
        #[arg(long)]
        target: Target,
        /// Why it is considered crashed.
        #[arg(long, value_parser = non_empty)]
        reason: String,
        /// Text from the pane that shows the crash.
        #[arg(long)]
        excerpt: Option<String>,
        /// What detected it (a script or detector name).
        #[arg(long, value_parser = non_empty)]
        detector: Option<String>,
    },
    /// A labelled point in the log.
    Marker {
        /// The label.
        #[arg(long, value_parser = non_empty)]
        label: String,
        /// A pane it is about.
        #[arg(long)]
        target: Option<Target>,
    },
    /// An agent started in a pane (`agent_registered`).
    Agent {
        /// The agent's pane.
        #[arg(long)]
        target: Target,
        /// Its role: orchestrator, project_manager, engineer, or any word.
        #[arg(long, value_parser = non_empty)]
        role: String,
        /// Its name, e.g. `proj-eng-1`.
        #[arg(long, value_parser = non_empty)]
        name: Option<String>,
    },
    /// A pane capture (the text of `tmux capture-pane -p -e -J`).
    Capture {
        /// The captured pane.
        #[arg(long)]
        target: Target,
        /// Read the content from this file [default: standard input].
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Pane width in cells.
        #[arg(long)]
        width: Option<u32>,
        /// Pane height in cells.
        #[arg(long)]
        height: Option<u32>,
        /// Cursor column.
        #[arg(long)]
        cursor_x: Option<u32>,
        /// Cursor row.
        #[arg(long)]
        cursor_y: Option<u32>,
    },
}

fn read_content(file: Option<&Path>) -> Result<String> {
    let mut bytes = Vec::new();
    match file {
        Some(p) => {
            bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read the capture from standard input")?;
        }
    }
    let limit = orc_log_schemas::MAX_LINE_BYTES;
    anyhow::ensure!(bytes.len() <= limit, "capture of {} bytes is over the {limit}-byte limit", bytes.len());
    String::from_utf8(bytes).context("the capture is not UTF-8 text")
}

/// Runs `orc-log emit`.
pub fn run(db_dir: &Path, args: Args) -> Result<u8> {
    let now = now_ns();
    let body = match args.kind {
        Kind::Message { from, to, text } => {
            let text = if args.no_redact { text } else { redact(&text).into_owned() };
            EventBody::Message { from, to, text }
        }
        Kind::Schedule { target, note, due, in_ } => {
            let due_ns = match (due, in_) {
                (Some(d), _) => d,
                (None, Some(d)) => {
                    let ns = i64::try_from(d.as_nanos()).context("--in is too long")?;
                    now.checked_add(ns).context("--in is too long")?
                }
                (None, None) => anyhow::bail!("give --due TIME or --in DURATION"),
            };
            EventBody::Schedule { target, note, due_ns }
        }
        Kind::ScheduleFired { target, note } => EventBody::ScheduleFired { target, note },
        Kind::Crash { target, reason, excerpt, detector } => {
            EventBody::Crash { target, reason, excerpt, detector }
        }
        Kind::Marker { label, target } => EventBody::Marker { label, target },
        Kind::Agent { target, role, name } => EventBody::AgentRegistered { target, role, name },
        Kind::Capture { target, file, width, height, cursor_x, cursor_y } => {
            let content = read_content(file.as_deref())?;
            let content = if args.no_redact { content } else { redact(&content).into_owned() };
            EventBody::Capture { target, content, width, height, cursor_x, cursor_y }
        }
    };
    let event = Event { ts_ns: args.ts.unwrap_or(now), id: args.id, body };
    let mut appender = crate::db::appender(db_dir)?;
    let receipt = appender.append(vec![event.clone()])?;
    if receipt.appended == 1 {
        println!("{}", receipt.last_seq);
    } else {
        let id = event.id.as_deref().unwrap_or_default();
        match appender.seq_of_id(id)? {
            Some(seq) => {
                eprintln!("orc-log: id {id:?} is already in the log at seq {seq}; nothing appended");
                println!("{seq}");
            }
            None => eprintln!("orc-log: id {id:?} is already in the log; nothing appended"),
        }
    }
    Ok(0)
}
