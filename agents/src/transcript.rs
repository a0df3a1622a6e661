//! Claude Code session transcripts (JSONL) -> orc-log events.
//!
//! Claude Code writes one transcript per session under
//! `~/.claude/projects/<project>/<sessionId>.jsonl`: one JSON object per
//! line, with `type` ("user", "assistant", "summary", "system", ...),
//! `uuid`, `parentUuid`, `sessionId`, `timestamp` (RFC 3339), `cwd` and, for
//! "user" and "assistant", `message` {`role`, `content`}, where `content` is
//! a string or an array of blocks (`text`, `tool_use` {`id`, `name`,
//! `input`}, `tool_result` {`tool_use_id`, `content`, `is_error`},
//! `thinking`, ...). [`parse`] maps them:
//!
//! | transcript | event | id |
//! |---|---|---|
//! | first entry of each `sessionId` | `agent_session` phase start (cwd, transcript_path) | `cc-session:{sessionId}:start` |
//! | "user" entry whose content is text (not `isMeta`) | `prompt` | `cc-prompt:{uuid}` |
//! | `tool_use` block of an "assistant" entry | `tool_call` phase pre | `cc-tool:{id}:pre` |
//! | `tool_result` block of a "user" entry | `tool_call` phase post, or failure when `is_error` | `cc-tool:{tool_use_id}:post` / `:failure` |
//! | `message.usage` of an "assistant" entry (model not `<synthetic>`) | `agent_usage` source transcript | `cc-usage:{message.id}:{requestId}` (else `cc-usage:{uuid}`) |
//!
//! Usage is counted once per request the way ccusage counts it
//! (<https://github.com/ryoppippi/ccusage>, its data loader): Claude Code
//! writes one entry per content block of a streamed message, each with the
//! message's `usage`, so entries with the same `message.id` and `requestId`
//! are one request and only the first is kept; an entry lacking either id is
//! counted on its own; `<synthetic>` messages (made by Claude Code, not the
//! API) are skipped. Tokens are `usage.input_tokens`, `output_tokens`,
//! `cache_read_input_tokens` and `cache_creation_input_tokens`; the cost is
//! the entry's `costUSD` when it has one, else from [`Options::prices`]
//! (none for a model the table lacks). A subagent's transcript
//! (`<session>/subagents/*.jsonl`, see [`subagent_transcripts`]) carries its
//! parent's `sessionId`, so its usage counts for the parent session.
//!
//! Tool call ids are the ones [`crate::hook`] gives, so a call seen both by
//! the hooks and in a transcript is stored once. A transcript does not say
//! when a session ended, so no `agent_session` end is made. Entry types and
//! blocks not listed are skipped (Claude Code adds new ones often). Summaries
//! and prompt text are redacted and bounded like the hooks' (see
//! [`crate::text`]). Every id is at most [`orc_log_schemas::ndjson::MAX_ID_BYTES`] bytes.

use crate::hook::{UNKNOWN_SESSION, tool_event_id};
use crate::text::{MAX_SUMMARY_BYTES, MAX_TEXT_BYTES, bounded, bounded_id, string_field as string, summary};
use orc_log_schemas::{Event, EventBody, Target, parse_rfc3339};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

/// A transcript line that cannot be read as an entry: `path:line`, the
/// field at fault (when one is) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}: {}{detail}", field.as_ref().map(|f| format!("field {f}: ")).unwrap_or_default())]
pub struct BadLine {
    /// The transcript file, as given.
    pub path: String,
    /// 1-based line number.
    pub line: u64,
    /// The field at fault, e.g. `timestamp`.
    pub field: Option<String>,
    /// What is wrong.
    pub detail: String,
}

/// Why a transcript could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The transcript file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line that is not a JSON object, or an entry with a bad `timestamp`
    /// (only without [`Options::skip_bad_lines`]).
    #[error("{0} (use --skip-bad-lines to skip such lines)")]
    BadLine(BadLine),
}

/// How [`parse`] treats a transcript.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The pane the agent ran in, set on every event; `None` for none.
    pub target: Option<Target>,
    /// Skip bad lines (reported in [`Import::bad_lines`]) instead of failing
    /// at the first one.
    pub skip_bad_lines: bool,
    /// Prices for usage entries without `costUSD`; `None`: such usage has no cost.
    pub prices: Option<crate::prices::Prices>,
}

/// The subagent transcripts of session transcript `path`
/// (`DIR/SESSION.jsonl` -> `DIR/SESSION/subagents/*.jsonl`), sorted by
/// name; empty when there is no such directory.
///
/// # Errors
/// Reading an existing `subagents` directory fails.
pub fn subagent_transcripts(path: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let dir = path.with_extension("").join("subagents");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let p = entry?.path();
        if p.extension().is_some_and(|e| e == "jsonl") && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// What one transcript yielded.
#[derive(Debug, Clone, Default)]
pub struct Import {
    /// The events, in transcript order, each id once.
    pub events: Vec<Event>,
    /// Non-blank lines read.
    pub lines: u64,
    /// Lines skipped as bad (only with [`Options::skip_bad_lines`]).
    pub bad_lines: Vec<BadLine>,
}

/// The text of a content value: a string, or the `text` blocks of an array
/// joined by newlines; `None` when it has no text.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(blocks) => {
            let texts: Vec<&str> = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            if texts.is_empty() { None } else { Some(texts.join("\n")) }
        }
        _ => None,
    }
    .filter(|t| !t.trim().is_empty())
}

/// State across the lines of one transcript.
struct Parser<'a> {
    opts: &'a Options,
    path: String,
    sessions: HashSet<String>,
    tool_names: HashMap<String, String>,
    seen_ids: HashSet<String>,
    out: Import,
}

impl Parser<'_> {
    fn bad(&self, line: u64, field: Option<&str>, detail: String) -> BadLine {
        BadLine { path: self.path.clone(), line, field: field.map(str::to_owned), detail }
    }

    fn push(&mut self, ev: Event) {
        if let Some(id) = &ev.id
            && !self.seen_ids.insert(id.clone())
        {
            return;
        }
        self.out.events.push(ev);
    }

    /// Maps one entry (a JSON object) to its events.
    fn entry(&mut self, line: u64, m: &Map<String, Value>) -> Result<(), BadLine> {
        let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
        let content = m.get("message").and_then(Value::as_object).and_then(|msg| msg.get("content"));
        let makes_events = matches!(kind, "user" | "assistant") && content.is_some();
        let session_known = string(m, "sessionId").is_some_and(|s| self.sessions.contains(&s));
        if !makes_events && (session_known || string(m, "sessionId").is_none()) {
            return Ok(());
        }
        let ts_ns = match m.get("timestamp") {
            Some(Value::String(t)) => {
                parse_rfc3339(t).map_err(|e| self.bad(line, Some("timestamp"), e.to_string()))?
            }
            Some(other) => {
                return Err(self.bad(
                    line,
                    Some("timestamp"),
                    format!("expected an RFC 3339 string, got {other}"),
                ));
            }
            // Entries without time (e.g. "summary") start no session.
            None if !makes_events => return Ok(()),
            None => return Err(self.bad(line, Some("timestamp"), "missing".to_owned())),
        };
        let target = self.opts.target.clone();
        let session = string(m, "sessionId").unwrap_or_else(|| UNKNOWN_SESSION.to_owned());
        if self.sessions.insert(session.clone()) {
            self.push(Event {
                ts_ns,
                id: Some(bounded_id(format!("cc-session:{session}:start"))),
                body: EventBody::AgentSession {
                    target: target.clone(),
                    agent_session_id: session.clone(),
                    phase: "start".to_owned(),
                    reason: None,
                    cwd: string(m, "cwd"),
                    transcript_path: Some(self.path.clone()),
                    raw: None,
                },
            });
        }
        let Some(content) = content.filter(|_| makes_events) else { return Ok(()) };
        let blocks = content.as_array().map(Vec::as_slice).unwrap_or_default();
        if kind == "assistant" {
            if let Some(ev) = self.usage(m, ts_ns, &session) {
                self.push(ev);
            }
            for b in blocks.iter().filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use")) {
                let Some(id) = b.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
                    continue;
                };
                let tool = b.get("name").and_then(Value::as_str).unwrap_or("unknown").to_owned();
                self.tool_names.insert(id.to_owned(), tool.clone());
                self.push(Event {
                    ts_ns,
                    id: Some(tool_event_id(id, "pre")),
                    body: EventBody::ToolCall {
                        target: target.clone(),
                        agent_session_id: session.clone(),
                        phase: "pre".to_owned(),
                        tool,
                        tool_use_id: Some(id.to_owned()),
                        input: b.get("input").map(|v| summary(v, MAX_SUMMARY_BYTES)),
                        response: None,
                        raw: None,
                    },
                });
            }
            return Ok(());
        }
        // A "user" entry: tool results, or the person's text.
        let results: Vec<&Value> =
            blocks.iter().filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result")).collect();
        if results.is_empty() {
            if m.get("isMeta").and_then(Value::as_bool) == Some(true) {
                return Ok(());
            }
            let Some(text) = text_of(content) else { return Ok(()) };
            let id = match string(m, "uuid") {
                Some(uuid) => format!("cc-prompt:{uuid}"),
                None => format!("cc-prompt:{session}:{ts_ns}"),
            };
            self.push(Event {
                ts_ns,
                id: Some(bounded_id(id)),
                body: EventBody::Prompt {
                    target,
                    agent_session_id: session,
                    text: bounded(&text, MAX_TEXT_BYTES),
                    raw: None,
                },
            });
            return Ok(());
        }
        for b in results {
            let Some(id) = b.get("tool_use_id").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
                continue;
            };
            let phase =
                if b.get("is_error").and_then(Value::as_bool) == Some(true) { "failure" } else { "post" };
            let response = b.get("content").map(|c| match text_of(c) {
                Some(text) => bounded(&text, MAX_SUMMARY_BYTES),
                None => summary(c, MAX_SUMMARY_BYTES),
            });
            self.push(Event {
                ts_ns,
                id: Some(tool_event_id(id, phase)),
                body: EventBody::ToolCall {
                    target: target.clone(),
                    agent_session_id: session.clone(),
                    phase: phase.to_owned(),
                    tool: self.tool_names.get(id).cloned().unwrap_or_else(|| "unknown".to_owned()),
                    tool_use_id: Some(id.to_owned()),
                    input: None,
                    response,
                    raw: None,
                },
            });
        }
        Ok(())
    }
}

impl Parser<'_> {
    /// The `agent_usage` of an "assistant" entry with `message.usage`
    /// (see the module docs); `None` without usage or for `<synthetic>`.
    fn usage(&self, m: &Map<String, Value>, ts_ns: i64, session: &str) -> Option<Event> {
        let msg = m.get("message").and_then(Value::as_object)?;
        let usage = msg.get("usage").and_then(Value::as_object)?;
        let model = msg.get("model").and_then(Value::as_str).filter(|s| !s.is_empty());
        if model == Some("<synthetic>") {
            return None;
        }
        let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
        let tokens = crate::prices::Tokens {
            input: n("input_tokens"),
            output: n("output_tokens"),
            cache_read: n("cache_read_input_tokens"),
            cache_creation: n("cache_creation_input_tokens"),
        };
        let message_id = msg.get("id").and_then(Value::as_str).filter(|s| !s.is_empty());
        let request_id = string(m, "requestId").filter(|s| !s.is_empty());
        let id = match (message_id, &request_id) {
            (Some(mid), Some(rid)) => format!("cc-usage:{mid}:{rid}"),
            _ => format!("cc-usage:{}", string(m, "uuid").unwrap_or_else(|| format!("{session}:{ts_ns}"))),
        };
        let cost = match m.get("costUSD").and_then(Value::as_f64) {
            Some(c) => orc_log_schemas::Usd::from_dollars(c),
            None => model.and_then(|md| self.opts.prices.as_ref()?.cost(md, tokens)),
        };
        let mut raw = Map::new();
        if let Some(mid) = message_id {
            raw.insert("message_id".into(), mid.into());
        }
        if let Some(rid) = request_id {
            raw.insert("request_id".into(), rid.into());
        }
        Some(Event {
            ts_ns,
            id: Some(bounded_id(id)),
            body: EventBody::AgentUsage {
                target: self.opts.target.clone(),
                agent: "claude_code".to_owned(),
                agent_session_id: Some(session.to_owned()),
                source: "transcript".to_owned(),
                event: "message".to_owned(),
                model: model.map(str::to_owned),
                prompt_id: None,
                input_tokens: tokens.input,
                output_tokens: tokens.output,
                cache_read_tokens: tokens.cache_read,
                cache_creation_tokens: tokens.cache_creation,
                cost_usd: cost,
                duration_ns: None,
                raw: (!raw.is_empty()).then(|| bounded(&Value::Object(raw).to_string(), MAX_TEXT_BYTES)),
            },
        })
    }
}

/// Reads a transcript from `reader` (named `path` in events and errors) and
/// maps its entries to events (see the module docs). Blank lines are
/// ignored.
///
/// # Errors
/// [`TranscriptError::Io`] when reading fails; [`TranscriptError::BadLine`]
/// for the first line that is not UTF-8, not JSON or not a JSON object, or a
/// "user"/"assistant" entry (or a session's first entry) whose `timestamp` is
/// missing or not RFC 3339 — unless [`Options::skip_bad_lines`], which
/// collects them in [`Import::bad_lines`] instead.
pub fn parse<R: BufRead>(mut reader: R, path: &Path, opts: &Options) -> Result<Import, TranscriptError> {
    let mut p = Parser {
        opts,
        path: path.display().to_string(),
        sessions: HashSet::new(),
        tool_names: HashMap::new(),
        seen_ids: HashSet::new(),
        out: Import::default(),
    };
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| TranscriptError::Io { path: p.path.clone(), source })?;
        if n == 0 {
            break;
        }
        line += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        p.out.lines += 1;
        let result = match std::str::from_utf8(&buf) {
            Err(e) => Err(p.bad(line, None, format!("not UTF-8 ({e})"))),
            Ok(text) => match serde_json::from_str::<Value>(text) {
                Err(e) => Err(p.bad(line, None, format!("not JSON ({e})"))),
                Ok(Value::Object(m)) => p.entry(line, &m),
                Ok(other) => {
                    let what = match other {
                        Value::Array(_) => "an array",
                        Value::String(_) => "a string",
                        Value::Number(_) => "a number",
                        Value::Bool(_) => "a boolean",
                        _ => "null",
                    };
                    Err(p.bad(line, None, format!("expected a JSON object, got {what}")))
                }
            },
        };
        match result {
            Ok(()) => {}
            Err(bad) if opts.skip_bad_lines => p.out.bad_lines.push(bad),
            Err(bad) => return Err(TranscriptError::BadLine(bad)),
        }
    }
    Ok(p.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Usage counted once per `message.id` + `requestId` across a session's
    /// transcript and its subagents', `<synthetic>` skipped; the totals
    /// equal a count made here straight from the JSON.
    #[test]
    fn usage_counts_each_request_once_across_subagents() {
        let main = fixture("usage/usage-session.jsonl");
        let files = [vec![main.clone()], subagent_transcripts(&main).unwrap()].concat();
        assert_eq!(files.len(), 2, "{files:?}");
        let opts = Options { prices: Some(crate::prices::Prices::builtin().unwrap()), ..Options::default() };
        let mut ids = HashSet::new();
        let mut got = [0u64; 4];
        let mut costs = Vec::new();
        for f in &files {
            let imp = parse(std::io::BufReader::new(std::fs::File::open(f).unwrap()), f, &opts).unwrap();
            for ev in imp.events {
                if let EventBody::AgentUsage {
                    input_tokens,
                    output_tokens,
                    cache_read_tokens,
                    cache_creation_tokens,
                    cost_usd,
                    ..
                } = ev.body
                    && ids.insert(ev.id.clone().unwrap())
                {
                    for (g, n) in got.iter_mut().zip([
                        input_tokens,
                        output_tokens,
                        cache_read_tokens,
                        cache_creation_tokens,
                    ]) {
                        *g += n;
                    }
                    costs.push(cost_usd);
                }
            }
        }
        // The independent count: dedupe by (message.id, requestId) when both are there.
        let mut seen = HashSet::new();
        let mut want = [0u64; 4];
        let mut requests = 0;
        for f in &files {
            for line in std::fs::read_to_string(f).unwrap().lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                let (Some(u), Some(model)) = (v["message"].get("usage"), v["message"]["model"].as_str())
                else {
                    continue;
                };
                if model == "<synthetic>" {
                    continue;
                }
                if let (Some(m), Some(r)) = (v["message"]["id"].as_str(), v["requestId"].as_str())
                    && !seen.insert((m.to_owned(), r.to_owned()))
                {
                    continue;
                }
                requests += 1;
                for (w, k) in want.iter_mut().zip([
                    "input_tokens",
                    "output_tokens",
                    "cache_read_input_tokens",
                    "cache_creation_input_tokens",
                ]) {
                    *w += u[k].as_u64().unwrap();
                }
            }
        }
        assert_eq!(requests, 5);
        assert_eq!(ids.len(), requests);
        assert_eq!(got, want);
        // Every model is priced; the entry with costUSD keeps it.
        assert!(costs.iter().all(Option::is_some), "{costs:?}");
        assert!(costs.contains(&orc_log_schemas::Usd::from_dollars(0.5)));
    }
    use orc_log_schemas::ndjson::MAX_ID_BYTES;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/claude-transcripts").join(name)
    }

    fn import(name: &str, opts: &Options) -> Result<Import, TranscriptError> {
        let path = fixture(name);
        let f = std::fs::File::open(&path).unwrap();
        parse(std::io::BufReader::new(f), &path, opts)
    }

    /// Counts in the fixture, computed here without the parser: tool_use
    /// blocks, tool_result blocks (and those with is_error), user text prompts.
    fn counts(name: &str) -> (usize, usize, usize, usize) {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let (mut uses, mut results, mut errors, mut prompts) = (0, 0, 0, 0);
        for l in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(l) else { continue };
            let Some(content) = v.pointer("/message/content") else { continue };
            let Some(blocks) = content.as_array() else {
                if v["type"] == "user" && content.is_string() {
                    prompts += 1;
                }
                continue;
            };
            let of = |t: &str| blocks.iter().filter(|b| b["type"] == t).count();
            uses += if v["type"] == "assistant" { of("tool_use") } else { 0 };
            if v["type"] == "user" {
                results += of("tool_result");
                errors +=
                    blocks.iter().filter(|b| b["type"] == "tool_result" && b["is_error"] == true).count();
                if of("tool_result") == 0 && of("text") > 0 {
                    prompts += 1;
                }
            }
        }
        (uses, results, errors, prompts)
    }

    fn tool_calls<'a>(events: &'a [Event], want: &str) -> Vec<&'a Event> {
        events
            .iter()
            .filter(|e| matches!(&e.body, EventBody::ToolCall { phase, .. } if phase == want))
            .collect()
    }

    #[test]
    fn fixture_tool_calls_and_prompts_match_its_blocks() {
        let name = "representative_messages.jsonl";
        let target: Target = "team:1.0".parse().unwrap();
        let imp =
            import(name, &Options { target: Some(target.clone()), skip_bad_lines: false, prices: None })
                .unwrap();
        let (uses, results, errors, prompts) = counts(name);
        assert!(uses > 0 && results > 0 && prompts > 0, "the fixture has tool calls and prompts");
        assert_eq!(tool_calls(&imp.events, "pre").len(), uses);
        assert_eq!(tool_calls(&imp.events, "post").len() + tool_calls(&imp.events, "failure").len(), results);
        assert_eq!(tool_calls(&imp.events, "failure").len(), errors);
        let n_prompts = imp.events.iter().filter(|e| matches!(e.body, EventBody::Prompt { .. })).count();
        assert_eq!(n_prompts, prompts);
        let starts: Vec<&Event> =
            imp.events.iter().filter(|e| matches!(e.body, EventBody::AgentSession { .. })).collect();
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0].id.as_deref(), Some("cc-session:test_session:start"));
        // Its five assistant entries with `usage` are five requests.
        let usage = imp.events.iter().filter(|e| matches!(e.body, EventBody::AgentUsage { .. })).count();
        assert_eq!(usage, 5);
        assert_eq!(imp.events.len(), uses + results + prompts + 1 + usage);
        for ev in &imp.events {
            ev.validate().unwrap();
            assert!(ev.id.as_ref().unwrap().len() <= MAX_ID_BYTES);
            assert_eq!(ev.body.target(), Some(&target));
        }
        // The results carry the tool's name from its tool_use, and pair with it by id.
        let EventBody::ToolCall { tool, tool_use_id, response, .. } =
            &tool_calls(&imp.events, "post")[1].body
        else {
            panic!()
        };
        assert_eq!((tool.as_str(), tool_use_id.as_deref()), ("Bash", Some("tool_002")));
        assert_eq!(response.as_deref(), Some("Hello, Alice!\nHello, Alice!\nHello, Alice!"));
        assert_eq!(tool_calls(&imp.events, "pre")[1].id.as_deref(), Some("cc-tool:tool_002:pre"));
        let first_prompt = imp.events.iter().find(|e| matches!(e.body, EventBody::Prompt { .. })).unwrap();
        assert_eq!(first_prompt.id.as_deref(), Some("cc-prompt:msg_001"));
        assert_eq!(first_prompt.ts_ns, parse_rfc3339("2025-06-14T10:00:00Z").unwrap());
    }

    #[test]
    fn bad_lines_fail_with_file_and_line_unless_skipped() {
        let name = "edge_cases.jsonl";
        let err = import(name, &Options::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("edge_cases.jsonl:13:") && msg.contains("expected a JSON object"), "{msg}");
        let imp = import(name, &Options { target: None, skip_bad_lines: true, prices: None }).unwrap();
        let lines: Vec<u64> = imp.bad_lines.iter().map(|b| b.line).collect();
        assert_eq!(lines, [13, 15, 16], "a string, a number and an array are not entries");
        let (uses, results, errors, _) = counts(name);
        assert_eq!(errors, 1);
        assert_eq!(tool_calls(&imp.events, "pre").len(), uses);
        assert_eq!(tool_calls(&imp.events, "failure").len(), errors);
        // One tool_result sits under a misspelt "contenst" key: not content, so not a result.
        assert_eq!(tool_calls(&imp.events, "post").len() + errors, results);
        let EventBody::ToolCall { tool, response, .. } = &tool_calls(&imp.events, "failure")[0].body else {
            panic!()
        };
        assert_eq!(tool, "FailingTool");
        assert!(response.as_deref().unwrap().starts_with("Error: Tool execution failed"));
        for ev in &imp.events {
            ev.validate().unwrap();
        }
    }

    #[test]
    fn string_content_meta_bad_time_and_redaction() {
        let secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        let lines = [
            r#"{"type":"summary","summary":"s","leafUuid":"x"}"#.to_owned(),
            format!(
                r#"{{"type":"user","uuid":"u1","sessionId":"s1","cwd":"/w","timestamp":"2026-01-01T00:00:00Z","message":{{"role":"user","content":"run echo {secret}"}}}}"#
            ),
            r#"{"type":"user","uuid":"u2","isMeta":true,"sessionId":"s1","timestamp":"2026-01-01T00:00:01Z","message":{"role":"user","content":"meta"}}"#.to_owned(),
            r#"{"type":"user","uuid":"u3","sessionId":"s1","timestamp":"2026-01-01T00:00:02Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":[{"type":"image"}],"is_error":true}]}}"#.to_owned(),
            r#"{"type":"brand-new","sessionId":"s1","timestamp":"2026-01-01T00:00:03Z"}"#.to_owned(),
            r#"{"type":"user","uuid":"u4","sessionId":"s1","timestamp":"yesterday","message":{"role":"user","content":"hi"}}"#.to_owned(),
        ];
        let text = lines.join("\n\n");
        let p = Path::new("t.jsonl");
        let err = parse(text.as_bytes(), p, &Options::default()).unwrap_err().to_string();
        assert!(err.starts_with("t.jsonl:11: field timestamp:"), "{err}");
        let imp =
            parse(text.as_bytes(), p, &Options { target: None, skip_bad_lines: true, prices: None }).unwrap();
        assert_eq!(imp.lines, 6);
        assert_eq!(imp.bad_lines.len(), 1);
        let kinds: Vec<&str> = imp.events.iter().map(|e| e.kind().as_str()).collect();
        assert_eq!(kinds, ["agent_session", "prompt", "tool_call"]);
        let EventBody::AgentSession { cwd, transcript_path, .. } = &imp.events[0].body else { panic!() };
        assert_eq!((cwd.as_deref(), transcript_path.as_deref()), (Some("/w"), Some("t.jsonl")));
        let EventBody::Prompt { text, .. } = &imp.events[1].body else { panic!() };
        assert_eq!(text, "run echo [REDACTED:github-token]");
        let EventBody::ToolCall { phase, tool, response, .. } = &imp.events[2].body else { panic!() };
        assert_eq!((phase.as_str(), tool.as_str()), ("failure", "unknown"));
        assert_eq!(response.as_deref(), Some(r#"[{"type":"image"}]"#));
    }

    #[test]
    fn long_ids_are_bounded() {
        let long = "x".repeat(300);
        let line = format!(
            r#"{{"type":"user","uuid":"{long}","sessionId":"{long}","timestamp":"2026-01-01T00:00:00Z","message":{{"content":"hi"}}}}"#
        );
        let imp = parse(line.as_bytes(), Path::new("t"), &Options::default()).unwrap();
        assert_eq!(imp.events.len(), 2);
        for ev in &imp.events {
            assert_eq!(ev.id.as_ref().unwrap().len(), MAX_ID_BYTES);
        }
    }
}
