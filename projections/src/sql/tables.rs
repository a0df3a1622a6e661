//! The SQL tables over the log: their Arrow schemas and how a row is built
//! from an event (the tables and columns README.md lists under "SQL").

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, StringBuilder, TimestampNanosecondBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use orc_log_engine::EventMeta;
use orc_log_schemas::{Event, EventBody, Kind, Target};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One SQL table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Every event, from frame headers only.
    Events,
    /// `capture` events.
    Captures,
    /// `message` events.
    Messages,
    /// `schedule` events.
    Schedules,
    /// `crash` events.
    Crashes,
    /// `marker` events.
    Markers,
    /// Session, window and agent lifecycle events.
    Lifecycle,
    /// `tool_call` events, with the call's duration on its post/failure row.
    ToolCalls,
    /// `prompt` events.
    Prompts,
    /// `agent_session` events (starts and ends).
    AgentSessions,
    /// `notification` events.
    Notifications,
    /// `alert` events.
    Alerts,
    /// `agent_usage` events, a record without a target joined to the pane
    /// of its agent session's start.
    AgentUsage,
    /// `agent_hook` events (other hook events, and the `RateLimited`
    /// usage-limit banners the recorder and the hook report).
    AgentHooks,
}

/// Running tool calls a scan remembers to pair with their end (the oldest
/// is forgotten beyond this many).
const MAX_OPEN_TOOL_CALLS: usize = 65_536;

/// `ts` and `due`: Timestamp(nanosecond, UTC).
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn f(name: &str, ty: DataType, nullable: bool) -> Field {
    Field::new(name, ty, nullable)
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 14] = [
        Table::Events,
        Table::Captures,
        Table::Messages,
        Table::Schedules,
        Table::Crashes,
        Table::Markers,
        Table::Lifecycle,
        Table::ToolCalls,
        Table::Prompts,
        Table::AgentSessions,
        Table::Notifications,
        Table::Alerts,
        Table::AgentUsage,
        Table::AgentHooks,
    ];

    /// The table's SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Captures => "captures",
            Table::Messages => "messages",
            Table::Schedules => "schedules",
            Table::Crashes => "crashes",
            Table::Markers => "markers",
            Table::Lifecycle => "lifecycle",
            Table::ToolCalls => "tool_calls",
            Table::Prompts => "prompts",
            Table::AgentSessions => "agent_sessions",
            Table::Notifications => "notifications",
            Table::Alerts => "alerts",
            Table::AgentUsage => "agent_usage",
            Table::AgentHooks => "agent_hooks",
        }
    }

    /// The event kinds the table holds (empty: all).
    pub fn kinds(self) -> Vec<Kind> {
        match self {
            Table::Events => Vec::new(),
            Table::Captures => vec![Kind::Capture],
            Table::Messages => vec![Kind::Message],
            Table::Schedules => vec![Kind::Schedule],
            Table::Crashes => vec![Kind::Crash],
            Table::Markers => vec![Kind::Marker],
            Table::Lifecycle => vec![
                Kind::SessionOpened,
                Kind::SessionClosed,
                Kind::WindowOpened,
                Kind::WindowRenamed,
                Kind::WindowClosed,
                Kind::AgentRegistered,
            ],
            Table::ToolCalls => vec![Kind::ToolCall],
            Table::Prompts => vec![Kind::Prompt],
            Table::AgentSessions => vec![Kind::AgentSession],
            Table::Notifications => vec![Kind::Notification],
            Table::Alerts => vec![Kind::Alert],
            Table::AgentUsage => vec![Kind::AgentUsage],
            Table::AgentHooks => vec![Kind::AgentHook],
        }
    }

    /// The Arrow schema. Every table starts with `seq`, `ts`; pane-related
    /// tables have `target`, `session`, `window`, `pane`.
    pub fn schema(self) -> SchemaRef {
        let mut fields = vec![f("seq", DataType::UInt64, false), f("ts", ts_type(), false)];
        let pane = |fields: &mut Vec<Field>, nullable: bool| {
            fields.push(f("target", DataType::Utf8, nullable));
            fields.push(f("session", DataType::Utf8, nullable));
            fields.push(f("window", DataType::UInt32, nullable));
            fields.push(f("pane", DataType::UInt32, nullable));
        };
        match self {
            Table::Events => {
                fields.push(f("kind", DataType::Utf8, false));
                pane(&mut fields, true);
                fields.push(f("stored_bytes", DataType::UInt64, false));
                fields.push(f("raw_bytes", DataType::UInt64, false));
                fields.push(f("expired", DataType::Boolean, false));
            }
            Table::Captures => {
                pane(&mut fields, false);
                fields.push(f("width", DataType::UInt32, true));
                fields.push(f("height", DataType::UInt32, true));
                fields.push(f("content", DataType::Utf8, true));
                fields.push(f("lines", DataType::UInt32, true));
                fields.push(f("expired", DataType::Boolean, false));
            }
            Table::Messages => {
                fields.push(f("sender", DataType::Utf8, false));
                fields.push(f("recipient", DataType::Utf8, false));
                fields.push(f("text", DataType::Utf8, false));
                pane(&mut fields, false);
            }
            Table::Schedules => {
                pane(&mut fields, false);
                fields.push(f("note", DataType::Utf8, false));
                fields.push(f("due", ts_type(), false));
            }
            Table::Crashes => {
                pane(&mut fields, false);
                fields.push(f("reason", DataType::Utf8, false));
                fields.push(f("detector", DataType::Utf8, true));
                fields.push(f("excerpt", DataType::Utf8, true));
            }
            Table::Markers => {
                fields.push(f("label", DataType::Utf8, false));
                pane(&mut fields, true);
            }
            Table::Lifecycle => {
                fields.push(f("kind", DataType::Utf8, false));
                pane(&mut fields, true);
                // `session` above is set for session events too.
                fields.push(f("name", DataType::Utf8, true));
                fields.push(f("role", DataType::Utf8, true));
            }
            Table::ToolCalls => {
                pane(&mut fields, true);
                fields.push(f("agent_session_id", DataType::Utf8, false));
                fields.push(f("tool", DataType::Utf8, false));
                fields.push(f("phase", DataType::Utf8, false));
                fields.push(f("tool_use_id", DataType::Utf8, true));
                fields.push(f("input", DataType::Utf8, true));
                fields.push(f("response", DataType::Utf8, true));
                fields.push(f("duration_ns", DataType::UInt64, true));
            }
            Table::Prompts => {
                pane(&mut fields, true);
                fields.push(f("agent_session_id", DataType::Utf8, false));
                fields.push(f("text", DataType::Utf8, false));
            }
            Table::AgentSessions => {
                pane(&mut fields, true);
                fields.push(f("agent_session_id", DataType::Utf8, false));
                fields.push(f("phase", DataType::Utf8, false));
                fields.push(f("reason", DataType::Utf8, true));
                fields.push(f("cwd", DataType::Utf8, true));
                fields.push(f("transcript_path", DataType::Utf8, true));
            }
            Table::Notifications => {
                pane(&mut fields, true);
                fields.push(f("agent_session_id", DataType::Utf8, false));
                fields.push(f("message", DataType::Utf8, false));
                fields.push(f("notification_type", DataType::Utf8, true));
            }
            Table::Alerts => {
                fields.push(f("rule", DataType::Utf8, false));
                fields.push(f("incident", DataType::Utf8, false));
                pane(&mut fields, true);
                fields.push(f("message", DataType::Utf8, false));
                fields.push(f("actions", DataType::Utf8, true));
            }
            Table::AgentUsage => {
                pane(&mut fields, true);
                fields.push(f("agent", DataType::Utf8, false));
                fields.push(f("agent_session_id", DataType::Utf8, true));
                fields.push(f("source", DataType::Utf8, false));
                fields.push(f("event", DataType::Utf8, false));
                fields.push(f("model", DataType::Utf8, true));
                fields.push(f("prompt_id", DataType::Utf8, true));
                fields.push(f("input_tokens", DataType::UInt64, false));
                fields.push(f("output_tokens", DataType::UInt64, false));
                fields.push(f("cache_read_tokens", DataType::UInt64, false));
                fields.push(f("cache_creation_tokens", DataType::UInt64, false));
                fields.push(f("cost_usd", DataType::Float64, true));
                fields.push(f("duration_ns", DataType::UInt64, true));
            }
            Table::AgentHooks => {
                pane(&mut fields, true);
                fields.push(f("agent_session_id", DataType::Utf8, true));
                fields.push(f("event", DataType::Utf8, false));
                fields.push(f("raw", DataType::Utf8, true));
            }
        }
        Arc::new(Schema::new(fields))
    }

    /// Whether rows need event bodies (decompression) for these columns
    /// (`None`: all columns). `events` never does; `captures` only for
    /// `width`, `height`, `content`, `lines`.
    pub fn needs_body(self, projection: Option<&[usize]>) -> bool {
        match self {
            Table::Events => false,
            Table::Captures => {
                let schema = self.schema();
                let body_cols = ["width", "height", "content", "lines"];
                match projection {
                    None => true,
                    Some(cols) => cols.iter().any(|&i| body_cols.contains(&schema.field(i).name().as_str())),
                }
            }
            _ => true,
        }
    }
}

/// Column builders for one table; rows are appended, then [`Rows::finish`]
/// makes a batch.
pub struct Rows {
    table: Table,
    seq: UInt64Builder,
    ts: TimestampNanosecondBuilder,
    strings: Vec<StringBuilder>,
    u32s: Vec<UInt32Builder>,
    u64s: Vec<UInt64Builder>,
    f64s: Vec<Float64Builder>,
    bools: Vec<BooleanBuilder>,
    times: Vec<TimestampNanosecondBuilder>,
    len: usize,
    /// `agent_usage`: agent session id -> the pane of its start, for rows
    /// recorded without a target (see [`Rows::join_sessions`]).
    sessions: HashMap<String, Target>,
    /// `tool_calls`: running calls (pairing key -> ts of the "pre") seen so
    /// far in this scan; kept across [`Rows::finish`].
    tool_started: BTreeMap<String, i64>,
}

/// The pane columns of an event's scope (the engine's scope is the
/// target as `session:window.pane` for every kind with a target, else the
/// session name or nothing): target, session, window, pane, without
/// parsing it into a `Target` or allocating.
fn split_scope(scope: Option<&str>) -> (Option<&str>, Option<&str>, Option<u32>, Option<u32>) {
    let Some(scope) = scope else { return (None, None, None, None) };
    let Some((session, rest)) = scope.rsplit_once(':') else { return (None, None, None, None) };
    let Some((w, p)) = rest.split_once('.') else { return (None, None, None, None) };
    match (w.parse().ok(), p.parse().ok()) {
        (Some(w), Some(p)) => (Some(scope), Some(session), Some(w), Some(p)),
        _ => (None, None, None, None),
    }
}

impl Rows {
    /// Empty builders for `table`.
    pub fn new(table: Table) -> Self {
        let schema = table.schema();
        let mut strings = Vec::new();
        let mut u32s = Vec::new();
        let mut u64s = Vec::new();
        let mut times = Vec::new();
        let mut f64s = Vec::new();
        let mut bools = Vec::new();
        for field in schema.fields().iter().skip(2) {
            match field.data_type() {
                DataType::Boolean => bools.push(BooleanBuilder::new()),
                DataType::Utf8 => strings.push(StringBuilder::new()),
                DataType::UInt32 => u32s.push(UInt32Builder::new()),
                DataType::UInt64 => u64s.push(UInt64Builder::new()),
                DataType::Float64 => f64s.push(Float64Builder::new()),
                _ => times.push(TimestampNanosecondBuilder::new().with_timezone("UTC")),
            }
        }
        Self {
            table,
            seq: UInt64Builder::new(),
            ts: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            strings,
            u32s,
            u64s,
            f64s,
            bools,
            times,
            len: 0,
            tool_started: BTreeMap::new(),
            sessions: HashMap::new(),
        }
    }

    /// `agent_usage`: the panes of agent sessions (from `agent_session`
    /// starts with a target), so that a usage row recorded before its
    /// session's pane was known (an OTLP record that arrived before the
    /// hook's `SessionStart`) gets that pane's columns.
    pub fn join_sessions(&mut self, sessions: HashMap<String, Target>) {
        self.sessions = sessions;
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no row was appended.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the row of one event. `event` may be `None` only when the
    /// table does not need bodies for the requested columns; body columns
    /// are then null placeholders that the projection drops.
    pub fn push(&mut self, meta: &EventMeta, event: Option<&Event>) {
        let kinds = self.table.kinds();
        if !kinds.is_empty() && !kinds.contains(&meta.kind) {
            return;
        }
        self.seq.append_value(meta.seq);
        self.ts.append_value(meta.ts_ns);
        let (t, s, w, p) = split_scope(meta.scope.as_deref());
        let session = s.or_else(|| event.and_then(|e| e.body.session())).or_else(|| {
            // Session events carry the session name as their scope.
            meta.scope.as_deref().filter(|x| !x.contains(':'))
        });
        let (mut si, mut ui, mut li, mut ti) = (0, 0, 0, 0);
        let mut s = |v: Option<&str>| {
            match v {
                Some(v) => self.strings[si].append_value(v),
                None => self.strings[si].append_null(),
            }
            si += 1;
        };
        let pane_cols = |s: &mut dyn FnMut(Option<&str>), u: &mut Vec<UInt32Builder>, ui: &mut usize| {
            s(t);
            s(session);
            u[*ui].append_option(w);
            u[*ui + 1].append_option(p);
            *ui += 2;
        };
        match (self.table, event.map(|e| &e.body)) {
            (Table::Events, _) => {
                s(Some(meta.kind.as_str()));
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                self.u64s[li].append_value(meta.stored_bytes);
                self.u64s[li + 1].append_value(meta.raw_bytes);
                li += 2;
                self.bools[0].append_value(meta.expired);
            }
            (Table::Captures, body) => {
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                self.bools[0].append_value(meta.expired);
                match body {
                    // An expired body's stub: no content, no size.
                    Some(EventBody::Capture { .. }) if meta.expired => {
                        self.u32s[ui].append_null();
                        self.u32s[ui + 1].append_null();
                        s(None);
                        self.u32s[ui + 2].append_null();
                    }
                    Some(EventBody::Capture { content, width, height, .. }) => {
                        self.u32s[ui].append_option(*width);
                        self.u32s[ui + 1].append_option(*height);
                        s(Some(content));
                        self.u32s[ui + 2].append_value(content.lines().count() as u32);
                    }
                    _ => {
                        self.u32s[ui].append_null();
                        self.u32s[ui + 1].append_null();
                        s(Some(""));
                        self.u32s[ui + 2].append_value(0);
                    }
                }
            }
            (Table::Messages, Some(EventBody::Message { from, to, text })) => {
                s(Some(from));
                s(Some(&to.to_string()));
                s(Some(text));
                pane_cols(&mut s, &mut self.u32s, &mut ui);
            }
            (Table::Schedules, Some(EventBody::Schedule { note, due_ns, .. })) => {
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                s(Some(note));
                self.times[ti].append_value(*due_ns);
                ti += 1;
            }
            (Table::Crashes, Some(EventBody::Crash { reason, detector, excerpt, .. })) => {
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                s(Some(reason));
                s(detector.as_deref());
                s(excerpt.as_deref());
            }
            (Table::Markers, Some(EventBody::Marker { label, .. })) => {
                s(Some(label));
                pane_cols(&mut s, &mut self.u32s, &mut ui);
            }
            (Table::Lifecycle, Some(body)) => {
                s(Some(meta.kind.as_str()));
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                let (name, role) = match body {
                    EventBody::WindowOpened { name, .. } | EventBody::WindowRenamed { name, .. } => {
                        (name.as_deref(), None)
                    }
                    EventBody::AgentRegistered { name, role, .. } => (name.as_deref(), Some(role.as_str())),
                    _ => (None, None),
                };
                s(name);
                s(role);
            }
            (
                Table::ToolCalls,
                Some(EventBody::ToolCall {
                    agent_session_id,
                    phase,
                    tool,
                    tool_use_id,
                    input,
                    response,
                    target,
                    ..
                }),
            ) => {
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                s(Some(agent_session_id));
                s(Some(tool));
                s(Some(phase));
                s(tool_use_id.as_deref());
                s(input.as_deref());
                s(response.as_deref());
                let key = crate::metrics::tool_call_key(
                    agent_session_id,
                    target.as_ref(),
                    tool,
                    tool_use_id.as_deref(),
                );
                let duration = if phase == "pre" {
                    if self.tool_started.len() >= MAX_OPEN_TOOL_CALLS
                        && let Some(oldest) =
                            self.tool_started.iter().min_by_key(|(_, ts)| **ts).map(|(k, _)| k.clone())
                    {
                        self.tool_started.remove(&oldest);
                    }
                    self.tool_started.insert(key, meta.ts_ns);
                    None
                } else {
                    self.tool_started.remove(&key).map(|start| meta.ts_ns.saturating_sub(start).max(0) as u64)
                };
                self.u64s[li].append_option(duration);
                li += 1;
            }
            (Table::Prompts, Some(EventBody::Prompt { agent_session_id, text, .. })) => {
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                s(Some(agent_session_id));
                s(Some(text));
            }
            (
                Table::AgentSessions,
                Some(EventBody::AgentSession {
                    agent_session_id, phase, reason, cwd, transcript_path, ..
                }),
            ) => {
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                s(Some(agent_session_id));
                s(Some(phase));
                s(reason.as_deref());
                s(cwd.as_deref());
                s(transcript_path.as_deref());
            }
            (
                Table::Notifications,
                Some(EventBody::Notification { agent_session_id, message, notification_type, .. }),
            ) => {
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                s(Some(agent_session_id));
                s(Some(message));
                s(notification_type.as_deref());
            }
            (Table::Alerts, Some(EventBody::Alert { rule, incident, message, actions, .. })) => {
                s(Some(rule));
                s(Some(incident));
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                s(Some(message));
                s(actions.as_deref());
            }
            (
                Table::AgentUsage,
                Some(EventBody::AgentUsage {
                    target,
                    agent,
                    agent_session_id,
                    source,
                    event,
                    model,
                    prompt_id,
                    input_tokens,
                    output_tokens,
                    cache_read_tokens,
                    cache_creation_tokens,
                    cost_usd,
                    duration_ns,
                    ..
                }),
            ) => {
                let joined = match target {
                    Some(_) => None,
                    None => agent_session_id.as_ref().and_then(|id| self.sessions.get(id)).cloned(),
                };
                match &joined {
                    Some(j) => {
                        s(Some(&j.to_string()));
                        s(Some(&j.session));
                        self.u32s[ui].append_value(j.window);
                        self.u32s[ui + 1].append_value(j.pane);
                        ui += 2;
                    }
                    None => pane_cols(&mut s, &mut self.u32s, &mut ui),
                }
                s(Some(agent));
                s(agent_session_id.as_deref());
                s(Some(source));
                s(Some(event));
                s(model.as_deref());
                s(prompt_id.as_deref());
                for v in [input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens] {
                    self.u64s[li].append_value(*v);
                    li += 1;
                }
                self.f64s[0].append_option(cost_usd.map(|c| c.dollars()));
                self.u64s[li].append_option(*duration_ns);
                li += 1;
            }
            (Table::AgentHooks, Some(EventBody::AgentHook { agent_session_id, event, raw, .. })) => {
                pane_cols(&mut s, &mut self.u32s, &mut ui);
                s(agent_session_id.as_deref());
                s(Some(event));
                s(raw.as_deref());
            }
            // Only a body-needing table given no body gets here; its columns
            // then come out short and `finish` reports the mismatch.
            _ => {}
        }
        let _ = (li, ti, ui);
        self.len += 1;
    }

    /// The batch of the appended rows (builders are reset).
    ///
    /// # Errors
    /// Arrow errors (not expected: columns are built to the schema).
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let schema = self.table.schema();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.seq.finish()), Arc::new(self.ts.finish())];
        let (mut si, mut ui, mut li, mut ti, mut fi, mut bi) = (0, 0, 0, 0, 0, 0);
        for field in schema.fields().iter().skip(2) {
            let col: ArrayRef = match field.data_type() {
                DataType::Boolean => {
                    bi += 1;
                    Arc::new(self.bools[bi - 1].finish())
                }
                DataType::Utf8 => {
                    si += 1;
                    Arc::new(self.strings[si - 1].finish())
                }
                DataType::UInt32 => {
                    ui += 1;
                    Arc::new(self.u32s[ui - 1].finish())
                }
                DataType::UInt64 => {
                    li += 1;
                    Arc::new(self.u64s[li - 1].finish())
                }
                DataType::Float64 => {
                    fi += 1;
                    Arc::new(self.f64s[fi - 1].finish())
                }
                _ => {
                    ti += 1;
                    Arc::new(self.times[ti - 1].finish())
                }
            };
            columns.push(col);
        }
        self.len = 0;
        RecordBatch::try_new(schema, columns)
    }
}
