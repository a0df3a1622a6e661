//! `orc-log search`: full-text search over capture text and messages.

use crate::ctx::Io;
use anyhow::{Result, bail};
use orc_log_engine::SharedLog;
use orc_log_projections::search::{Hit, SearchError, SearchOptions, search};
use orc_log_schemas::{Target, format_rfc3339};
use serde_json::json;

/// Search what the panes showed (capture text with escape sequences
/// removed; wrapped lines are already joined by the recorder) and the
/// messages sent to them, for a literal PATTERN.
///
/// Text stays on a pane's screen for many captures; a capture counts as a
/// hit only where PATTERN occurs more often than in the pane's previous
/// capture (where it appeared). Each hit shows its seq, time, pane, a
/// snippet of the line, and the command that replays the pane from just
/// before it (from the pane's previous capture). Exit status 1 when nothing
/// matches, as grep.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The text to find (literal; 1 to 1000 bytes).
    pattern: String,
    /// Only this pane (`session:window.pane`): its captures and the messages sent to it.
    #[arg(long)]
    target: Option<Target>,
    /// Only events at or after this time (RFC 3339, a duration before now such as 10m, or now).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    since: Option<i64>,
    /// Only events at or before this time (RFC 3339, a duration before now such as 10m, or now).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    until: Option<i64>,
    /// Match regardless of case.
    #[arg(long, short = 'i')]
    ignore_case: bool,
    /// Stop after N hits.
    #[arg(long, value_name = "N")]
    max_hits: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Two lines per hit: `SEQ TIME TARGET KIND: SNIPPET`, then the replay command.
    Text,
    /// One JSON object per hit: seq, ts, kind, target, snippet, replay_since, replay.
    Json,
}

/// The command that replays `hit`'s pane from just before it.
fn replay_command(db: &SharedLog, hit: &Hit) -> String {
    format!(
        "orc-log --db {} session replay {} --since {}",
        shell_word(&db.dir().display().to_string()),
        hit.target,
        format_rfc3339(hit.replay_since_ns)
    )
}

/// `s` quoted for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Runs `orc-log search`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let opts = SearchOptions {
        pattern: args.pattern.clone(),
        ignore_case: args.ignore_case,
        target: args.target.clone(),
        since_ns: args.since,
        until_ns: args.until,
    };
    let mut hits = 0u64;
    let mut failed: Option<std::io::Error> = None;
    let result = search(&db.snapshot(), &opts, |hit| {
        if args.max_hits.is_some_and(|m| hits >= m) {
            return false;
        }
        hits += 1;
        let replay = replay_command(db, &hit);
        let written = match args.format {
            Format::Text => writeln!(
                io.out,
                "{} {} {} {}: {}\n    {replay}",
                hit.seq,
                format_rfc3339(hit.ts_ns),
                hit.target,
                hit.kind,
                hit.snippet
            ),
            Format::Json => {
                let mut line = hit.to_json();
                line["replay"] = json!(replay);
                writeln!(io.out, "{line}")
            }
        };
        match written {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    match result {
        Err(SearchError::Pattern(n)) => bail!("the pattern must be 1 to 1000 bytes long (it is {n})"),
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    if hits == 0 {
        writeln!(io.err, "orc-log: no match for {:?}", args.pattern)?;
        return Ok(1);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("/tmp/db"), "/tmp/db");
        assert_eq!(shell_word("/tmp/my db"), "'/tmp/my db'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
