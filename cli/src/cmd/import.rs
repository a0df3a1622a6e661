//! `orc-log import`: events from other tools' files.

use anyhow::{Context, Result, bail};
use orc_log_agents::transcript::{self, Options};
use orc_log_schemas::{Event, Target};
use std::path::{Path, PathBuf};

/// Import events from other tools' files.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    ClaudeTranscript(TranscriptArgs),
}

/// Import Claude Code session transcripts (JSONL, as under
/// ~/.claude/projects/PROJECT/SESSION.jsonl) as agent events.
///
/// Each session's first entry becomes an `agent_session` start, each prompt
/// the person typed a `prompt`, each tool call a `tool_call` "pre" and its
/// result a "post" (or "failure" for an error result). Ids come from the
/// transcript (`cc-tool:TOOL_USE_ID:PHASE` as `orc-log hook` gives them,
/// `cc-prompt:UUID`, `cc-session:SESSION:start`), so importing a transcript
/// again, or one the hooks already logged, adds no second copy of a tool
/// call. Each assistant message's token usage becomes an `agent_usage`
/// (source `transcript`), counted once per `message.id` + `requestId` as
/// ccusage counts it (`<synthetic>` messages skipped), priced from the
/// built-in price table (agents/prices.toml) when the entry has no
/// `costUSD`; a session's subagent transcripts (`SESSION/subagents/*.jsonl`
/// beside `SESSION.jsonl`) are read too. Entry types orc-log does not know are skipped. A line that is not
/// a JSON object (or has a bad `timestamp`) stops the import with FILE:LINE
/// before anything is appended, unless --skip-bad-lines.
#[derive(Debug, clap::Args)]
struct TranscriptArgs {
    /// Transcript files (JSONL).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The tmux pane the agent ran in (`session:window.pane`), set on every
    /// event; default none.
    #[arg(long, value_name = "TARGET")]
    target: Option<Target>,
    /// Report each bad line on stderr and go on instead of failing.
    #[arg(long)]
    skip_bad_lines: bool,
}

/// Events per append request.
const BATCH: usize = 4096;

/// Runs `orc-log import`.
///
/// # Errors
/// A file that cannot be read or has a bad line (without --skip-bad-lines;
/// then nothing is appended), or a failed append.
pub fn run(db_dir: &Path, args: Args) -> Result<u8> {
    let What::ClaudeTranscript(args) = args.what;
    let prices = orc_log_agents::prices::Prices::builtin()?;
    let opts = Options { target: args.target, skip_bad_lines: args.skip_bad_lines, prices: Some(prices) };
    let mut events: Vec<Event> = Vec::new();
    let mut skipped = 0usize;
    let mut files = Vec::new();
    for path in &args.files {
        files.push(path.clone());
        let subagents = transcript::subagent_transcripts(path)
            .with_context(|| format!("cannot list the subagent transcripts of {}", path.display()))?;
        files.extend(subagents.into_iter().filter(|p| !args.files.contains(p)));
    }
    // Read every file first: a bad line fails the import before anything is appended.
    for path in &files {
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let imported = transcript::parse(std::io::BufReader::new(file), path, &opts)?;
        for bad in &imported.bad_lines {
            eprintln!("orc-log: {bad} (skipped)");
        }
        skipped += imported.bad_lines.len();
        events.extend(imported.events);
    }
    let read = events.len();
    if read == 0 && skipped > 0 {
        bail!("no events in {} file(s): every non-blank line was bad", files.len());
    }
    let mut appender = crate::db::appender(db_dir)?;
    let (mut appended, mut duplicates) = (0u64, 0u64);
    let mut rest = events;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(BATCH));
        let receipt = appender
            .append(rest)
            .context("append failed; events after the last acknowledged commit were not stored")?;
        appended += receipt.appended;
        duplicates += receipt.duplicates;
        rest = tail;
    }
    let mut summary = format!(
        "orc-log: {read} events read from {} file(s), {appended} appended, {duplicates} already in the log",
        files.len()
    );
    if skipped > 0 {
        summary.push_str(&format!(", {skipped} bad lines skipped"));
    }
    eprintln!("{summary}");
    Ok(0)
}
