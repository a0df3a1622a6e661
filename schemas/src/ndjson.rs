//! NDJSON event format v1: one JSON object per line (`schemas/event-v1.schema.json`).
//!
//! [`parse_line`] validates one line strictly: unknown kinds and unknown
//! fields are errors, every error names the field and the reason.
//! [`to_json_line`] writes a [`Record`] in the same format plus `seq`, so its
//! output parses back to the same event. The accepted shape is also published
//! as JSON Schema in `schemas/event-v1.schema.json`; a test keeps the two equal.

use crate::event::{Event, EventBody, Kind, Record, Usd};
use crate::target::{Target, validate_session};
use crate::time::{format_rfc3339, parse_rfc3339};
use serde_json::{Map, Value};
use std::fmt;

/// Longest line accepted, in bytes (without the newline): 8 MiB.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Longest producer `id` accepted, in bytes.
pub const MAX_ID_BYTES: usize = 128;

/// Most bytes of an agent hook's raw payload kept in an event's `raw` field
/// (producers cut longer payloads; the format itself only bounds the line).
pub const MAX_RAW_BYTES: usize = 16 * 1024;

/// The `phase` values of kind `agent_session`.
pub const SESSION_PHASES: &[&str] = &["start", "end"];

/// The `phase` values of kind `tool_call`.
pub const TOOL_PHASES: &[&str] = &["pre", "post", "failure"];

/// The `source` values of kind `agent_usage`.
pub const USAGE_SOURCES: &[&str] = &["otel", "transcript"];

/// What is wrong with a line (`snake_case` names in JSON, as the server
/// protocol carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LineErrorKind {
    /// Not JSON, or not one JSON object.
    InvalidJson,
    /// `kind` names no v1 kind.
    UnknownKind,
    /// A field the kind does not have.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type or an out-of-range number.
    WrongType,
    /// A target is not `session:window.pane`.
    BadTarget,
    /// A time is not RFC 3339 with offset.
    BadTime,
    /// A value has the right type but is not allowed (empty, too long...).
    BadValue,
    /// The line is longer than [`MAX_LINE_BYTES`].
    TooLong,
    /// An object has the same key twice (at any nesting level).
    DuplicateKey,
}

impl LineErrorKind {
    /// A short name for reports: `invalid JSON`, `unknown field`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            LineErrorKind::InvalidJson => "invalid JSON",
            LineErrorKind::UnknownKind => "unknown kind",
            LineErrorKind::UnknownField => "unknown field",
            LineErrorKind::MissingField => "missing field",
            LineErrorKind::WrongType => "wrong type",
            LineErrorKind::BadTarget => "bad target",
            LineErrorKind::BadTime => "bad time",
            LineErrorKind::BadValue => "bad value",
            LineErrorKind::TooLong => "line too long",
            LineErrorKind::DuplicateKey => "duplicate key",
        }
    }
}

/// Why one line was rejected: the kind of problem, the field, and details.
///
/// Displays as `unknown field "colour": kind capture has no such field`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineError {
    /// The kind of problem.
    pub kind: LineErrorKind,
    /// The field concerned, when there is one.
    pub field: Option<String>,
    /// Human-readable detail.
    pub detail: String,
}

impl LineError {
    fn new(kind: LineErrorKind, field: Option<&str>, detail: impl Into<String>) -> Self {
        Self { kind, field: field.map(str::to_owned), detail: detail.into() }
    }

    /// The error for a line longer than [`MAX_LINE_BYTES`].
    pub fn too_long(len_bytes: usize) -> Self {
        Self::new(
            LineErrorKind::TooLong,
            None,
            format!("{len_bytes} bytes, the limit is {MAX_LINE_BYTES} bytes"),
        )
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} {field:?}: {}", self.kind.as_str(), self.detail),
            None => write!(f, "{}: {}", self.kind.as_str(), self.detail),
        }
    }
}

impl std::error::Error for LineError {}

/// The JSON shape and rule of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Any string.
    Text,
    /// A non-empty string.
    NonEmpty,
    /// A tmux target `session:window.pane`.
    Target,
    /// A tmux session name.
    Session,
    /// An RFC 3339 time with offset.
    Time,
    /// An integer 0..=4294967295.
    U32,
    /// An integer 0..=18446744073709551615.
    U64,
    /// A non-negative number of US dollars, below 1.8e10 (kept to the
    /// nano-dollar: see [`Usd`]).
    Usd,
    /// One of the listed strings.
    OneOf(&'static [&'static str]),
}

/// One field of a kind: name, type, required or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The JSON key.
    pub name: &'static str,
    /// Its type and rule.
    pub ty: FieldType,
    /// Whether the field must be present.
    pub required: bool,
}

// Struct literals (not `const fn` calls) so the tables below are promoted to statics.
macro_rules! req {
    ($name:literal, $ty:ident) => {
        FieldSpec { name: $name, ty: FieldType::$ty, required: true }
    };
}
macro_rules! opt {
    ($name:literal, $ty:ident) => {
        FieldSpec { name: $name, ty: FieldType::$ty, required: false }
    };
}

/// The kind-specific fields of each kind, in output order (`schemas/event-v1.schema.json`).
///
/// Common fields (`kind`, `ts`, `id`, and `seq`, which input may carry and
/// which is ignored because the log assigns positions) are not listed.
pub fn fields(kind: Kind) -> &'static [FieldSpec] {
    match kind {
        Kind::Capture => &[
            req!("target", Target),
            opt!("width", U32),
            opt!("height", U32),
            opt!("cursor_x", U32),
            opt!("cursor_y", U32),
            req!("content", Text),
        ],
        Kind::Message => &[req!("from", NonEmpty), req!("to", Target), req!("text", Text)],
        Kind::Schedule => &[req!("target", Target), req!("note", Text), req!("due", Time)],
        Kind::ScheduleFired => &[req!("target", Target), opt!("note", Text)],
        Kind::Crash => &[
            req!("target", Target),
            req!("reason", NonEmpty),
            opt!("excerpt", Text),
            opt!("detector", NonEmpty),
        ],
        Kind::Marker => &[req!("label", NonEmpty), opt!("target", Target)],
        Kind::SessionOpened | Kind::SessionClosed => &[req!("session", Session)],
        Kind::WindowOpened | Kind::WindowRenamed => &[req!("target", Target), opt!("name", Text)],
        Kind::WindowClosed => &[req!("target", Target)],
        Kind::AgentRegistered => &[req!("target", Target), req!("role", NonEmpty), opt!("name", Text)],
        Kind::AgentSession => &[
            opt!("target", Target),
            req!("agent_session_id", NonEmpty),
            FieldSpec { name: "phase", ty: FieldType::OneOf(SESSION_PHASES), required: true },
            opt!("reason", Text),
            opt!("cwd", Text),
            opt!("transcript_path", Text),
            opt!("raw", Text),
        ],
        Kind::Prompt => &[
            opt!("target", Target),
            req!("agent_session_id", NonEmpty),
            req!("text", Text),
            opt!("raw", Text),
        ],
        Kind::ToolCall => &[
            opt!("target", Target),
            req!("agent_session_id", NonEmpty),
            FieldSpec { name: "phase", ty: FieldType::OneOf(TOOL_PHASES), required: true },
            req!("tool", NonEmpty),
            opt!("tool_use_id", NonEmpty),
            opt!("input", Text),
            opt!("response", Text),
            opt!("raw", Text),
        ],
        Kind::Notification => &[
            opt!("target", Target),
            req!("agent_session_id", NonEmpty),
            req!("message", Text),
            opt!("notification_type", NonEmpty),
            opt!("raw", Text),
        ],
        Kind::AgentStop => &[
            opt!("target", Target),
            req!("agent_session_id", NonEmpty),
            opt!("agent_id", NonEmpty),
            opt!("raw", Text),
        ],
        Kind::AgentHook => &[
            opt!("target", Target),
            opt!("agent_session_id", NonEmpty),
            req!("event", NonEmpty),
            opt!("raw", Text),
        ],
        Kind::Alert => &[
            req!("rule", NonEmpty),
            req!("incident", NonEmpty),
            opt!("target", Target),
            req!("message", Text),
            opt!("actions", Text),
        ],
        Kind::PaneState => &[
            req!("target", Target),
            opt!("cwd", Text),
            opt!("command", Text),
            opt!("cmdline", Text),
            opt!("layout", Text),
        ],
        Kind::Resurrected => &[req!("targets", Text), opt!("at", Text), opt!("socket", Text)],
        Kind::AgentUsage => &[
            opt!("target", Target),
            req!("agent", NonEmpty),
            opt!("agent_session_id", NonEmpty),
            FieldSpec { name: "source", ty: FieldType::OneOf(USAGE_SOURCES), required: true },
            req!("event", NonEmpty),
            opt!("model", NonEmpty),
            opt!("prompt_id", NonEmpty),
            opt!("input_tokens", U64),
            opt!("output_tokens", U64),
            opt!("cache_read_tokens", U64),
            opt!("cache_creation_tokens", U64),
            opt!("cost_usd", Usd),
            opt!("duration_ns", U64),
            opt!("raw", Text),
        ],
        Kind::Redaction => &[req!("bodies", Text), opt!("note", Text)],
    }
}

/// Field values checked against their [`FieldSpec`], ready to build a body.
struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    fn str(&self, name: &str) -> Option<String> {
        self.map.get(name).and_then(Value::as_str).map(str::to_owned)
    }
    fn req_str(&self, name: &str) -> String {
        self.str(name).unwrap_or_default()
    }
    fn target(&self, name: &str) -> Option<Target> {
        self.map.get(name).and_then(Value::as_str).and_then(|s| s.parse().ok())
    }
    fn req_target(&self, name: &str) -> Result<Target, LineError> {
        self.target(name).ok_or_else(|| LineError::new(LineErrorKind::MissingField, Some(name), "required"))
    }
    fn u32(&self, name: &str) -> Option<u32> {
        self.map.get(name).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok())
    }
    fn u64(&self, name: &str) -> Option<u64> {
        self.map.get(name).and_then(Value::as_u64)
    }
    fn usd(&self, name: &str) -> Option<Usd> {
        self.map.get(name).and_then(Value::as_f64).and_then(Usd::from_dollars)
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_field(spec: &FieldSpec, value: &Value) -> Result<(), LineError> {
    let field = Some(spec.name);
    let wrong = |expected: &str| {
        LineError::new(
            LineErrorKind::WrongType,
            field,
            format!("expected {expected}, found {} {value}", type_name(value)),
        )
    };
    if spec.ty == FieldType::U32 {
        return match value.as_u64() {
            Some(n) if u32::try_from(n).is_ok() => Ok(()),
            _ => Err(wrong("an integer 0..=4294967295")),
        };
    }
    if spec.ty == FieldType::U64 {
        return match value.as_u64() {
            Some(_) => Ok(()),
            _ => Err(wrong("an integer 0..=18446744073709551615")),
        };
    }
    if spec.ty == FieldType::Usd {
        return match value.as_f64() {
            Some(d) if Usd::from_dollars(d).is_some() => Ok(()),
            Some(_) => Err(LineError::new(
                LineErrorKind::BadValue,
                field,
                format!("{value} is not an amount of dollars 0..1.8e10"),
            )),
            None => Err(wrong("a number of US dollars")),
        };
    }
    let Some(s) = value.as_str() else { return Err(wrong("a string")) };
    match spec.ty {
        FieldType::Text | FieldType::U32 | FieldType::U64 | FieldType::Usd => Ok(()),
        FieldType::NonEmpty if s.is_empty() => {
            Err(LineError::new(LineErrorKind::BadValue, field, "must not be empty"))
        }
        FieldType::NonEmpty => Ok(()),
        FieldType::OneOf(allowed) if allowed.contains(&s) => Ok(()),
        FieldType::OneOf(allowed) => Err(LineError::new(
            LineErrorKind::BadValue,
            field,
            format!("{s:?} is not one of {}", allowed.join(", ")),
        )),
        FieldType::Target => s
            .parse::<Target>()
            .map(drop)
            .map_err(|e| LineError::new(LineErrorKind::BadTarget, field, e.to_string())),
        FieldType::Session => {
            validate_session(s).map_err(|e| LineError::new(LineErrorKind::BadValue, field, e.to_string()))
        }
        FieldType::Time => parse_rfc3339(s)
            .map(drop)
            .map_err(|e| LineError::new(LineErrorKind::BadTime, field, e.to_string())),
    }
}

/// Parses one NDJSON line (without its newline) into an [`Event`].
///
/// A missing `ts` becomes `default_ts_ns` (the caller passes the time of
/// reading, which is the time of append to within a commit). `seq`, when
/// present, must be a non-negative integer and is otherwise ignored. An
/// object with the same key twice, at any nesting level, is refused (plain
/// JSON parsers keep the last value).
///
/// # Errors
/// A [`LineError`] naming the field and the reason: invalid JSON, duplicate
/// key (with both values), unknown kind, unknown field, missing field, wrong
/// type, bad target, bad time, bad value or too long.
pub fn parse_line(line: &str, default_ts_ns: i64) -> Result<Event, LineError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(LineError::too_long(line.len()));
    }
    parse_value(parse_json_strict(line)?, default_ts_ns)
}

/// Parses JSON text into a [`Value`] as `serde_json` does, except that an
/// object with the same key twice, at any nesting level, is an error (one
/// pass: keys are checked as each object is built).
///
/// # Errors
/// [`LineErrorKind::DuplicateKey`] naming the key and both values, or
/// [`LineErrorKind::InvalidJson`] for text that is not one JSON value.
pub fn parse_json_strict(text: &str) -> Result<Value, LineError> {
    let mut duplicate = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = serde::de::DeserializeSeed::deserialize(Strict { duplicate: &mut duplicate }, &mut de)
        .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match duplicate {
        Some(d) => d,
        None => LineError::new(LineErrorKind::InvalidJson, None, e.to_string()),
    })
}

/// serde `deserialize_with` for a list of JSON values, each read with
/// [`parse_json_strict`]'s rule (for events inside a larger message, such as
/// the server protocol's `append`).
///
/// # Errors
/// The deserializer's error; for a key given twice its message is the
/// [`LineErrorKind::DuplicateKey`] error, naming the key and both values.
pub fn deserialize_strict_values<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    struct Item(Value);
    impl<'de> serde::Deserialize<'de> for Item {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let mut duplicate = None;
            serde::de::DeserializeSeed::deserialize(Strict { duplicate: &mut duplicate }, d).map(Item)
        }
    }
    let items: Vec<Item> = serde::Deserialize::deserialize(d)?;
    Ok(items.into_iter().map(|Item(v)| v).collect())
}

/// A [`Value`] deserializer that refuses duplicate keys, recording the first
/// one found in `duplicate` (the serde error it returns loses the structure).
struct Strict<'a> {
    duplicate: &'a mut Option<LineError>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        serde::de::DeserializeSeed::deserialize(self, deserializer)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Strict { duplicate: &mut *self.duplicate })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        use serde::de::Error as _;
        use serde_json::map::Entry;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(Strict { duplicate: &mut *self.duplicate })?;
            match map.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(first) => {
                    let err = LineError::new(
                        LineErrorKind::DuplicateKey,
                        Some(first.key()),
                        format!("given twice, first {} then {value}", first.get()),
                    );
                    let message = err.to_string();
                    *self.duplicate = Some(err);
                    return Err(A::Error::custom(message));
                }
            }
        }
        Ok(Value::Object(map))
    }
}

/// [`parse_line`] for a JSON value already parsed (an event inside a larger
/// message, such as the server protocol's `append`). The same rules apply,
/// except the line length, which [`Event::validate`] checks on append.
///
/// # Errors
/// As [`parse_line`].
pub fn parse_value(value: Value, default_ts_ns: i64) -> Result<Event, LineError> {
    let Value::Object(map) = value else {
        return Err(LineError::new(
            LineErrorKind::InvalidJson,
            None,
            format!("expected a JSON object, found {}", type_name(&value)),
        ));
    };
    let kind_value = map
        .get("kind")
        .ok_or_else(|| LineError::new(LineErrorKind::MissingField, Some("kind"), "required"))?;
    let kind_name = kind_value.as_str().ok_or_else(|| {
        LineError::new(
            LineErrorKind::WrongType,
            Some("kind"),
            format!("expected a string, found {}", type_name(kind_value)),
        )
    })?;
    let kind = Kind::from_name(kind_name).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        LineError::new(
            LineErrorKind::UnknownKind,
            Some("kind"),
            format!("{kind_name:?} is not one of {}", known.join(", ")),
        )
    })?;
    let specs = fields(kind);
    let mut ts_ns = default_ts_ns;
    let mut id = None;
    for (key, value) in &map {
        match key.as_str() {
            "kind" => {}
            "ts" => {
                let spec = req!("ts", Time);
                check_field(&spec, value)?;
                ts_ns = value.as_str().and_then(|s| parse_rfc3339(s).ok()).unwrap_or(default_ts_ns);
            }
            "seq" => {
                if value.as_u64().is_none() {
                    return Err(LineError::new(
                        LineErrorKind::WrongType,
                        Some("seq"),
                        format!("expected a non-negative integer, found {} {value}", type_name(value)),
                    ));
                }
            }
            "id" => {
                check_field(&req!("id", NonEmpty), value)?;
                let s = value.as_str().unwrap_or_default();
                if s.len() > MAX_ID_BYTES {
                    return Err(LineError::new(
                        LineErrorKind::BadValue,
                        Some("id"),
                        format!("{} bytes, at most {MAX_ID_BYTES} allowed", s.len()),
                    ));
                }
                id = Some(s.to_owned());
            }
            other => match specs.iter().find(|s| s.name == other) {
                Some(spec) => check_field(spec, value)?,
                None => {
                    let allowed: Vec<&str> = specs.iter().map(|s| s.name).collect();
                    return Err(LineError::new(
                        LineErrorKind::UnknownField,
                        Some(other),
                        format!("kind {kind} has no such field (its fields: {})", allowed.join(", ")),
                    ));
                }
            },
        }
    }
    if let Some(missing) = specs.iter().find(|s| s.required && !map.contains_key(s.name)) {
        return Err(LineError::new(
            LineErrorKind::MissingField,
            Some(missing.name),
            format!("required for kind {kind}"),
        ));
    }
    let f = Fields { map };
    let body = build_body(kind, &f)?;
    Ok(Event { ts_ns, id, body })
}

fn build_body(kind: Kind, f: &Fields) -> Result<EventBody, LineError> {
    Ok(match kind {
        Kind::Capture => EventBody::Capture {
            target: f.req_target("target")?,
            content: f.req_str("content"),
            width: f.u32("width"),
            height: f.u32("height"),
            cursor_x: f.u32("cursor_x"),
            cursor_y: f.u32("cursor_y"),
        },
        Kind::Message => {
            EventBody::Message { from: f.req_str("from"), to: f.req_target("to")?, text: f.req_str("text") }
        }
        Kind::Schedule => EventBody::Schedule {
            target: f.req_target("target")?,
            note: f.req_str("note"),
            due_ns: f.str("due").and_then(|s| parse_rfc3339(&s).ok()).unwrap_or_default(),
        },
        Kind::ScheduleFired => {
            EventBody::ScheduleFired { target: f.req_target("target")?, note: f.str("note") }
        }
        Kind::Crash => EventBody::Crash {
            target: f.req_target("target")?,
            reason: f.req_str("reason"),
            excerpt: f.str("excerpt"),
            detector: f.str("detector"),
        },
        Kind::Marker => EventBody::Marker { label: f.req_str("label"), target: f.target("target") },
        Kind::SessionOpened => EventBody::SessionOpened { session: f.req_str("session") },
        Kind::SessionClosed => EventBody::SessionClosed { session: f.req_str("session") },
        Kind::WindowOpened => {
            EventBody::WindowOpened { target: f.req_target("target")?, name: f.str("name") }
        }
        Kind::WindowRenamed => {
            EventBody::WindowRenamed { target: f.req_target("target")?, name: f.str("name") }
        }
        Kind::WindowClosed => EventBody::WindowClosed { target: f.req_target("target")? },
        Kind::AgentRegistered => EventBody::AgentRegistered {
            target: f.req_target("target")?,
            role: f.req_str("role"),
            name: f.str("name"),
        },
        Kind::AgentSession => EventBody::AgentSession {
            target: f.target("target"),
            agent_session_id: f.req_str("agent_session_id"),
            phase: f.req_str("phase"),
            reason: f.str("reason"),
            cwd: f.str("cwd"),
            transcript_path: f.str("transcript_path"),
            raw: f.str("raw"),
        },
        Kind::Prompt => EventBody::Prompt {
            target: f.target("target"),
            agent_session_id: f.req_str("agent_session_id"),
            text: f.req_str("text"),
            raw: f.str("raw"),
        },
        Kind::ToolCall => EventBody::ToolCall {
            target: f.target("target"),
            agent_session_id: f.req_str("agent_session_id"),
            phase: f.req_str("phase"),
            tool: f.req_str("tool"),
            tool_use_id: f.str("tool_use_id"),
            input: f.str("input"),
            response: f.str("response"),
            raw: f.str("raw"),
        },
        Kind::Notification => EventBody::Notification {
            target: f.target("target"),
            agent_session_id: f.req_str("agent_session_id"),
            message: f.req_str("message"),
            notification_type: f.str("notification_type"),
            raw: f.str("raw"),
        },
        Kind::AgentStop => EventBody::AgentStop {
            target: f.target("target"),
            agent_session_id: f.req_str("agent_session_id"),
            agent_id: f.str("agent_id"),
            raw: f.str("raw"),
        },
        Kind::AgentHook => EventBody::AgentHook {
            target: f.target("target"),
            agent_session_id: f.str("agent_session_id"),
            event: f.req_str("event"),
            raw: f.str("raw"),
        },
        Kind::Alert => EventBody::Alert {
            rule: f.req_str("rule"),
            incident: f.req_str("incident"),
            target: f.target("target"),
            message: f.req_str("message"),
            actions: f.str("actions"),
        },
        Kind::PaneState => EventBody::PaneState {
            target: f.req_target("target")?,
            cwd: f.str("cwd"),
            command: f.str("command"),
            cmdline: f.str("cmdline"),
            layout: f.str("layout"),
        },
        Kind::Resurrected => {
            EventBody::Resurrected { targets: f.req_str("targets"), at: f.str("at"), socket: f.str("socket") }
        }
        Kind::AgentUsage => EventBody::AgentUsage {
            target: f.target("target"),
            agent: f.req_str("agent"),
            agent_session_id: f.str("agent_session_id"),
            source: f.req_str("source"),
            event: f.req_str("event"),
            model: f.str("model"),
            prompt_id: f.str("prompt_id"),
            input_tokens: f.u64("input_tokens").unwrap_or(0),
            output_tokens: f.u64("output_tokens").unwrap_or(0),
            cache_read_tokens: f.u64("cache_read_tokens").unwrap_or(0),
            cache_creation_tokens: f.u64("cache_creation_tokens").unwrap_or(0),
            cost_usd: f.usd("cost_usd"),
            duration_ns: f.u64("duration_ns"),
            raw: f.str("raw"),
        },
        Kind::Redaction => EventBody::Redaction { bodies: f.req_str("bodies"), note: f.str("note") },
    })
}

/// A field's value inside a typed [`Event`], for [`Event::validate`].
enum FieldRef<'a> {
    Str(&'a str),
    Target(&'a Target),
    Other,
    Absent,
}

/// The value of field `name` in `body` (format v1 names).
fn field_ref<'a>(body: &'a EventBody, name: &str) -> FieldRef<'a> {
    let s = |v: &'a String| FieldRef::Str(v.as_str());
    let os = |v: &'a Option<String>| v.as_ref().map_or(FieldRef::Absent, |v| FieldRef::Str(v.as_str()));
    match (body, name) {
        (EventBody::Capture { target: t, .. }, "target")
        | (EventBody::Message { to: t, .. }, "to")
        | (EventBody::Schedule { target: t, .. }, "target")
        | (EventBody::ScheduleFired { target: t, .. }, "target")
        | (EventBody::Crash { target: t, .. }, "target")
        | (EventBody::WindowOpened { target: t, .. }, "target")
        | (EventBody::WindowRenamed { target: t, .. }, "target")
        | (EventBody::WindowClosed { target: t }, "target")
        | (EventBody::AgentRegistered { target: t, .. }, "target")
        | (EventBody::PaneState { target: t, .. }, "target") => FieldRef::Target(t),
        (
            EventBody::Marker { .. }
            | EventBody::AgentSession { .. }
            | EventBody::Prompt { .. }
            | EventBody::ToolCall { .. }
            | EventBody::Notification { .. }
            | EventBody::AgentStop { .. }
            | EventBody::AgentHook { .. }
            | EventBody::Alert { .. }
            | EventBody::AgentUsage { .. },
            "target",
        ) => body.target().map_or(FieldRef::Absent, FieldRef::Target),
        (EventBody::Capture { content: v, .. }, "content")
        | (EventBody::Message { from: v, .. }, "from")
        | (EventBody::Message { text: v, .. }, "text")
        | (EventBody::Schedule { note: v, .. }, "note")
        | (EventBody::Crash { reason: v, .. }, "reason")
        | (EventBody::Marker { label: v, .. }, "label")
        | (EventBody::SessionOpened { session: v }, "session")
        | (EventBody::SessionClosed { session: v }, "session")
        | (EventBody::AgentRegistered { role: v, .. }, "role")
        | (EventBody::AgentSession { agent_session_id: v, .. }, "agent_session_id")
        | (EventBody::AgentSession { phase: v, .. }, "phase")
        | (EventBody::Prompt { agent_session_id: v, .. }, "agent_session_id")
        | (EventBody::Prompt { text: v, .. }, "text")
        | (EventBody::ToolCall { agent_session_id: v, .. }, "agent_session_id")
        | (EventBody::ToolCall { phase: v, .. }, "phase")
        | (EventBody::ToolCall { tool: v, .. }, "tool")
        | (EventBody::Notification { agent_session_id: v, .. }, "agent_session_id")
        | (EventBody::Notification { message: v, .. }, "message")
        | (EventBody::AgentStop { agent_session_id: v, .. }, "agent_session_id")
        | (EventBody::AgentHook { event: v, .. }, "event")
        | (EventBody::Alert { rule: v, .. }, "rule")
        | (EventBody::Alert { incident: v, .. }, "incident")
        | (EventBody::Alert { message: v, .. }, "message")
        | (EventBody::Resurrected { targets: v, .. }, "targets")
        | (EventBody::AgentUsage { agent: v, .. }, "agent")
        | (EventBody::AgentUsage { source: v, .. }, "source")
        | (EventBody::AgentUsage { event: v, .. }, "event") => s(v),
        (EventBody::Redaction { bodies: v, .. }, "bodies") => s(v),
        (EventBody::ScheduleFired { note: v, .. }, "note")
        | (EventBody::Crash { excerpt: v, .. }, "excerpt")
        | (EventBody::Crash { detector: v, .. }, "detector")
        | (EventBody::WindowOpened { name: v, .. }, "name")
        | (EventBody::WindowRenamed { name: v, .. }, "name")
        | (EventBody::AgentRegistered { name: v, .. }, "name")
        | (EventBody::AgentSession { reason: v, .. }, "reason")
        | (EventBody::AgentSession { cwd: v, .. }, "cwd")
        | (EventBody::AgentSession { transcript_path: v, .. }, "transcript_path")
        | (EventBody::AgentSession { raw: v, .. }, "raw")
        | (EventBody::Prompt { raw: v, .. }, "raw")
        | (EventBody::ToolCall { tool_use_id: v, .. }, "tool_use_id")
        | (EventBody::ToolCall { input: v, .. }, "input")
        | (EventBody::ToolCall { response: v, .. }, "response")
        | (EventBody::ToolCall { raw: v, .. }, "raw")
        | (EventBody::Notification { notification_type: v, .. }, "notification_type")
        | (EventBody::Notification { raw: v, .. }, "raw")
        | (EventBody::AgentStop { agent_id: v, .. }, "agent_id")
        | (EventBody::AgentStop { raw: v, .. }, "raw")
        | (EventBody::AgentHook { agent_session_id: v, .. }, "agent_session_id")
        | (EventBody::AgentHook { raw: v, .. }, "raw")
        | (EventBody::Alert { actions: v, .. }, "actions")
        | (EventBody::PaneState { cwd: v, .. }, "cwd")
        | (EventBody::PaneState { command: v, .. }, "command")
        | (EventBody::PaneState { cmdline: v, .. }, "cmdline")
        | (EventBody::PaneState { layout: v, .. }, "layout")
        | (EventBody::Resurrected { at: v, .. }, "at")
        | (EventBody::Resurrected { socket: v, .. }, "socket")
        | (EventBody::AgentUsage { agent_session_id: v, .. }, "agent_session_id")
        | (EventBody::AgentUsage { model: v, .. }, "model")
        | (EventBody::AgentUsage { prompt_id: v, .. }, "prompt_id")
        | (EventBody::AgentUsage { raw: v, .. }, "raw") => os(v),
        (EventBody::Redaction { note: v, .. }, "note") => os(v),
        // Numbers and times: any value of the Rust type is a valid v1 value.
        _ => FieldRef::Other,
    }
}

/// Raw text bytes of an event's strings (a lower bound of its JSON line).
fn text_bytes(ev: &Event) -> usize {
    let mut n = ev.id.as_ref().map_or(0, String::len);
    for spec in fields(ev.kind()) {
        n += match field_ref(&ev.body, spec.name) {
            FieldRef::Str(v) => v.len(),
            FieldRef::Target(t) => t.session.len() + 21,
            FieldRef::Other | FieldRef::Absent => 0,
        };
    }
    n
}

impl Event {
    /// Checks every rule that [`parse_line`] applies to a line, on a typed
    /// event: `id` non-empty and at most [`MAX_ID_BYTES`] bytes; required
    /// fields present and non-empty where the format says so (`from`,
    /// `reason`, `detector`, `label`, `role`); targets and session names
    /// valid ([`validate_session`]); and the event's format v1 line no longer
    /// than [`MAX_LINE_BYTES`]. Every path into the log (NDJSON `ingest`, the
    /// server's socket, `emit`, a library `append`) applies it, so an event
    /// that `ingest` rejects is rejected everywhere with the same message.
    ///
    /// # Errors
    /// The same [`LineError`] (kind, field, detail) that [`parse_line`]
    /// gives for the event's JSON line.
    pub fn validate(&self) -> Result<(), LineError> {
        // The line is at most 6 bytes per text byte (`\u00XX`) plus keys:
        // only an event with over 1 MiB of text can exceed the limit, and
        // only then is its exact line length computed.
        if text_bytes(self) > 1024 * 1024 {
            let len = event_to_json_value(self).to_string().len();
            if len > MAX_LINE_BYTES {
                return Err(LineError::too_long(len));
            }
        }
        for spec in fields(self.kind()) {
            let field = Some(spec.name);
            match field_ref(&self.body, spec.name) {
                FieldRef::Absent if spec.required => {
                    return Err(LineError::new(
                        LineErrorKind::MissingField,
                        field,
                        format!("required for kind {}", self.kind()),
                    ));
                }
                FieldRef::Str(v) => {
                    check_field(spec, &Value::from(if spec.ty == FieldType::Text { "" } else { v }))?
                }
                FieldRef::Target(t) => validate_session(&t.session)
                    .map_err(|e| LineError::new(LineErrorKind::BadTarget, field, e.to_string()))?,
                FieldRef::Other | FieldRef::Absent => {}
            }
        }
        if let Some(id) = &self.id {
            if id.is_empty() {
                return Err(LineError::new(LineErrorKind::BadValue, Some("id"), "must not be empty"));
            }
            if id.len() > MAX_ID_BYTES {
                return Err(LineError::new(
                    LineErrorKind::BadValue,
                    Some("id"),
                    format!("{} bytes, at most {MAX_ID_BYTES} allowed", id.len()),
                ));
            }
        }
        Ok(())
    }
}

/// The format v1 JSON object of a record: `seq`, `kind`, `ts`, the kind's
/// fields in [`fields`] order, then `id` when present.
pub fn to_json_value(record: &Record) -> Value {
    let mut m = Map::new();
    m.insert("seq".into(), record.seq.into());
    event_fields(&record.event, &mut m);
    Value::Object(m)
}

/// The format v1 JSON object of an event as `ingest` reads it (no `seq`):
/// what [`parse_value`] turns back into the same event.
pub fn event_to_json_value(ev: &Event) -> Value {
    let mut m = Map::new();
    event_fields(ev, &mut m);
    Value::Object(m)
}

/// Inserts `kind`, `ts`, the kind's fields in [`fields`] order, then `id`.
fn event_fields(ev: &Event, m: &mut Map<String, Value>) {
    m.insert("kind".into(), ev.kind().as_str().into());
    m.insert("ts".into(), format_rfc3339(ev.ts_ns).into());
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    let t = |t: &Target| Value::from(t.to_string());
    let o = |v: &Option<String>| v.clone().map_or(Value::Null, Value::from);
    let n = |v: &Option<u32>| v.map_or(Value::Null, Value::from);
    match &ev.body {
        EventBody::Capture { target, content, width, height, cursor_x, cursor_y } => {
            put("target", t(target));
            put("width", n(width));
            put("height", n(height));
            put("cursor_x", n(cursor_x));
            put("cursor_y", n(cursor_y));
            put("content", content.as_str().into());
        }
        EventBody::Message { from, to, text } => {
            put("from", from.as_str().into());
            put("to", t(to));
            put("text", text.as_str().into());
        }
        EventBody::Schedule { target, note, due_ns } => {
            put("target", t(target));
            put("note", note.as_str().into());
            put("due", format_rfc3339(*due_ns).into());
        }
        EventBody::ScheduleFired { target, note } => {
            put("target", t(target));
            put("note", o(note));
        }
        EventBody::Crash { target, reason, excerpt, detector } => {
            put("target", t(target));
            put("reason", reason.as_str().into());
            put("excerpt", o(excerpt));
            put("detector", o(detector));
        }
        EventBody::Marker { label, target } => {
            put("label", label.as_str().into());
            put("target", target.as_ref().map_or(Value::Null, t));
        }
        EventBody::SessionOpened { session } | EventBody::SessionClosed { session } => {
            put("session", session.as_str().into());
        }
        EventBody::WindowOpened { target, name } | EventBody::WindowRenamed { target, name } => {
            put("target", t(target));
            put("name", o(name));
        }
        EventBody::WindowClosed { target } => put("target", t(target)),
        EventBody::AgentRegistered { target, role, name } => {
            put("target", t(target));
            put("role", role.as_str().into());
            put("name", o(name));
        }
        body @ EventBody::AgentUsage {
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_creation_tokens,
            cost_usd,
            duration_ns,
            ..
        } => {
            // Strings from the field table; token counts of 0 are left out
            // (absent reads as 0).
            let nz = |v: u64| if v == 0 { Value::Null } else { Value::from(v) };
            for spec in fields(body.kind()) {
                let value = match (field_ref(body, spec.name), spec.name) {
                    (FieldRef::Str(v), _) => v.into(),
                    (FieldRef::Target(v), _) => t(v),
                    (_, "input_tokens") => nz(*input_tokens),
                    (_, "output_tokens") => nz(*output_tokens),
                    (_, "cache_read_tokens") => nz(*cache_read_tokens),
                    (_, "cache_creation_tokens") => nz(*cache_creation_tokens),
                    (_, "cost_usd") => cost_usd.map_or(Value::Null, |c| Value::from(c.dollars())),
                    (_, "duration_ns") => duration_ns.map_or(Value::Null, Value::from),
                    _ => Value::Null,
                };
                put(spec.name, value);
            }
        }
        // The agent and alert kinds hold only strings and targets: their
        // fields come straight from the field table.
        body @ (EventBody::AgentSession { .. }
        | EventBody::Prompt { .. }
        | EventBody::ToolCall { .. }
        | EventBody::Notification { .. }
        | EventBody::AgentStop { .. }
        | EventBody::AgentHook { .. }
        | EventBody::Alert { .. }
        | EventBody::PaneState { .. }
        | EventBody::Resurrected { .. }
        | EventBody::Redaction { .. }) => {
            for spec in fields(body.kind()) {
                match field_ref(body, spec.name) {
                    FieldRef::Str(v) => put(spec.name, v.into()),
                    FieldRef::Target(v) => put(spec.name, t(v)),
                    FieldRef::Other | FieldRef::Absent => {}
                }
            }
        }
    }
    if let Some(id) = &ev.id {
        m.insert("id".into(), id.as_str().into());
    }
    // Absent optional fields are left out, not written as null: input rejects null.
    m.retain(|_, v| !v.is_null());
}

/// One format v1 line (no trailing newline) for a record; see [`to_json_value`].
pub fn to_json_line(record: &Record) -> String {
    to_json_value(record).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> LineError {
        parse_line(line, 0).unwrap_err()
    }

    #[test]
    fn fixture_lines_parse_and_round_trip() {
        let text = include_str!("../../tests/fixtures/tmux-session-a.ndjson");
        for (i, line) in text.lines().enumerate() {
            let ev = parse_line(line, 0).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
            let rec = Record { seq: i as u64 + 1, event: ev.clone() };
            let out = to_json_line(&rec);
            assert_eq!(parse_line(&out, 0).unwrap(), ev, "line {}", i + 1);
            let a: Value = serde_json::from_str(line).unwrap();
            let mut b: Value = serde_json::from_str(&out).unwrap();
            b.as_object_mut().unwrap().remove("seq");
            assert_eq!(a, b, "line {} field-for-field", i + 1);
        }
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_level_naming_key_and_both_values() {
        let e = err(r#"{"kind":"marker","label":"a","label":"b"}"#);
        assert_eq!(e.kind, LineErrorKind::DuplicateKey);
        assert_eq!(e.field.as_deref(), Some("label"));
        assert_eq!(e.to_string(), r#"duplicate key "label": given twice, first "a" then "b""#);
        // Checked before the field rules: an unknown or ill-typed key given twice is a duplicate too.
        let e = err(r#"{"kind":"marker","label":"a","x":1,"x":[2, {"y":null}]}"#);
        assert_eq!((e.kind, e.field.as_deref()), (LineErrorKind::DuplicateKey, Some("x")));
        assert!(e.detail.contains(r#"first 1 then [2,{"y":null}]"#), "{e}");
        // Nested objects, also inside arrays.
        for line in [
            r#"{"kind":"marker","label":"a","n":{"k":true,"k":false}}"#,
            r#"{"kind":"marker","label":"a","n":[{"ok":1},{"k":true,"k":false}]}"#,
        ] {
            let e = err(line);
            assert_eq!((e.kind, e.field.as_deref()), (LineErrorKind::DuplicateKey, Some("k")), "{line}");
            assert!(e.detail.contains("first true then false"), "{e}");
        }
        // The same key in sibling objects is no duplicate; the line fails only on the field rules.
        let e = err(r#"{"kind":"marker","label":"a","n":[{"k":1},{"k":2}]}"#);
        assert_eq!(e.kind, LineErrorKind::UnknownField);
    }

    #[test]
    fn strict_json_parses_as_serde_json_does() {
        for text in [
            r#"{"a":1,"b":-2,"c":1.5,"d":"x\u00e9\n","e":null,"f":[true,false,{}],"g":{"h":[]}}"#,
            "18446744073709551615",
            r#"  "s"  "#,
        ] {
            assert_eq!(
                parse_json_strict(text).unwrap(),
                serde_json::from_str::<Value>(text).unwrap(),
                "{text}"
            );
        }
        for bad in ["", "{", r#"{"a":1} x"#, "[1,]"] {
            assert_eq!(parse_json_strict(bad).unwrap_err().kind, LineErrorKind::InvalidJson, "{bad:?}");
        }
    }

    #[test]
    fn missing_ts_takes_the_default() {
        let ev = parse_line(r#"{"kind":"marker","label":"x"}"#, 42).unwrap();
        assert_eq!(ev.ts_ns, 42);
    }

    #[test]
    fn each_error_kind_names_field_and_reason() {
        assert_eq!(err("{not json").kind, LineErrorKind::InvalidJson);
        assert_eq!(err("[1]").kind, LineErrorKind::InvalidJson);
        let e = err(r#"{"kind":"nope"}"#);
        assert_eq!((e.kind, e.field.as_deref()), (LineErrorKind::UnknownKind, Some("kind")));
        let e = err(r#"{"kind":"marker","label":"x","colour":1}"#);
        assert_eq!((e.kind, e.field.as_deref()), (LineErrorKind::UnknownField, Some("colour")));
        let e = err(r#"{"kind":"message","from":"a","to":"s:1.0"}"#);
        assert_eq!((e.kind, e.field.as_deref()), (LineErrorKind::MissingField, Some("text")));
        let e = err(r#"{"kind":"capture","target":"s:1.0","content":"x","width":"80"}"#);
        assert_eq!((e.kind, e.field.as_deref()), (LineErrorKind::WrongType, Some("width")));
        let e = err(r#"{"kind":"capture","target":"s:1.0","content":"x","width":-1}"#);
        assert_eq!(e.kind, LineErrorKind::WrongType);
        let e = err(r#"{"kind":"crash","target":"nocolon","reason":"r"}"#);
        assert_eq!((e.kind, e.field.as_deref()), (LineErrorKind::BadTarget, Some("target")));
        let e = err(r#"{"kind":"marker","label":"x","ts":"2026-01-01 00:00"}"#);
        assert_eq!((e.kind, e.field.as_deref()), (LineErrorKind::BadTime, Some("ts")));
        let e = err(&format!(r#"{{"kind":"marker","label":"x","id":"{}"}}"#, "a".repeat(129)));
        assert_eq!((e.kind, e.field.as_deref()), (LineErrorKind::BadValue, Some("id")));
        assert!(e.to_string().contains("129 bytes"), "{e}");
        let e = err(r#"{"kind":"marker","label":null}"#);
        assert_eq!(e.kind, LineErrorKind::WrongType);
        assert!(err(r#"{"label":"x"}"#).to_string().contains("missing field \"kind\""));
    }

    /// `Event::validate` refuses what `parse_line` refuses, with the same
    /// error, for every rule a typed event can break.
    #[test]
    fn validate_gives_the_parse_error_for_each_rule() {
        let t = |s: &str| Target { session: s.into(), window: 0, pane: 0 };
        let ev = |body| Event { ts_ns: 0, id: None, body };
        let cases: Vec<(Event, String)> = vec![
            (
                ev(EventBody::Marker { label: String::new(), target: None }),
                r#"{"kind":"marker","label":""}"#.into(),
            ),
            (
                ev(EventBody::Message { from: String::new(), to: t("s"), text: "x".into() }),
                r#"{"kind":"message","from":"","to":"s:0.0","text":"x"}"#.into(),
            ),
            (
                ev(EventBody::Crash { target: t("a b"), reason: "r".into(), excerpt: None, detector: None }),
                r#"{"kind":"crash","target":"a b:0.0","reason":"r"}"#.into(),
            ),
            (
                ev(EventBody::Crash {
                    target: t("s"),
                    reason: "r".into(),
                    excerpt: None,
                    detector: Some(String::new()),
                }),
                r#"{"kind":"crash","target":"s:0.0","reason":"r","detector":""}"#.into(),
            ),
            (
                ev(EventBody::SessionOpened { session: "x.y".into() }),
                r#"{"kind":"session_opened","session":"x.y"}"#.into(),
            ),
            (
                ev(EventBody::AgentRegistered { target: t("s"), role: String::new(), name: None }),
                r#"{"kind":"agent_registered","target":"s:0.0","role":""}"#.into(),
            ),
            (
                Event {
                    ts_ns: 0,
                    id: Some("i".repeat(MAX_ID_BYTES + 1)),
                    body: EventBody::Marker { label: "x".into(), target: None },
                },
                format!(r#"{{"kind":"marker","label":"x","id":"{}"}}"#, "i".repeat(MAX_ID_BYTES + 1)),
            ),
            (
                Event {
                    ts_ns: 0,
                    id: Some(String::new()),
                    body: EventBody::Marker { label: "x".into(), target: None },
                },
                r#"{"kind":"marker","label":"x","id":""}"#.into(),
            ),
        ];
        for (event, line) in cases {
            assert_eq!(event.validate().unwrap_err(), err(&line), "{line}");
        }
        // Too long: the same length rule, counted on the event's line.
        let content = "\u{1}".repeat(MAX_LINE_BYTES / 6 + 10);
        let big = ev(EventBody::Capture {
            target: t("s"),
            content,
            width: None,
            height: None,
            cursor_x: None,
            cursor_y: None,
        });
        assert_eq!(big.validate().unwrap_err().kind, LineErrorKind::TooLong);
        // Every fixture event is valid, and survives the JSON value round trip.
        let fixtures = [
            include_str!("../../tests/fixtures/tmux-session-a.ndjson"),
            include_str!("../../tests/fixtures/agent-events.ndjson"),
        ];
        for line in fixtures.iter().flat_map(|f| f.lines()) {
            let e = parse_line(line, 0).unwrap();
            e.validate().unwrap();
            assert_eq!(parse_value(event_to_json_value(&e), 1).unwrap(), e);
        }
    }

    /// The published JSON Schema must describe exactly what `parse_line` accepts.
    #[test]
    fn json_schema_matches_the_field_table() {
        let schema: Value = serde_json::from_str(include_str!("../event-v1.schema.json")).unwrap();
        let variants = schema["oneOf"].as_array().unwrap();
        assert_eq!(variants.len(), Kind::ALL.len());
        for kind in Kind::ALL {
            let v = variants
                .iter()
                .find(|v| v["properties"]["kind"]["const"] == kind.as_str())
                .unwrap_or_else(|| panic!("no schema variant for {kind}"));
            assert_eq!(v["additionalProperties"], false, "{kind}");
            let props: Vec<&str> = v["properties"].as_object().unwrap().keys().map(String::as_str).collect();
            let mut want: Vec<&str> = vec!["kind", "ts", "id", "seq"];
            want.extend(fields(kind).iter().map(|f| f.name));
            let (mut p, mut w) = (props.clone(), want);
            p.sort_unstable();
            w.sort_unstable();
            assert_eq!(p, w, "properties of {kind}");
            let mut required: Vec<&str> =
                v["required"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            let mut want_req: Vec<&str> = vec!["kind"];
            want_req.extend(fields(kind).iter().filter(|f| f.required).map(|f| f.name));
            required.sort_unstable();
            want_req.sort_unstable();
            assert_eq!(required, want_req, "required of {kind}");
            for f in fields(kind) {
                let def = v["properties"][f.name]["$ref"].as_str().unwrap_or("");
                let want_def = match f.ty {
                    FieldType::Text => "#/$defs/text",
                    FieldType::NonEmpty => "#/$defs/nonEmpty",
                    FieldType::Target => "#/$defs/target",
                    FieldType::Session => "#/$defs/session",
                    FieldType::Time => "#/$defs/time",
                    FieldType::U32 => "#/$defs/u32",
                    FieldType::U64 => "#/$defs/u64",
                    FieldType::Usd => "#/$defs/usd",
                    FieldType::OneOf(allowed) => {
                        let listed: Vec<&str> = v["properties"][f.name]["enum"]
                            .as_array()
                            .map(|a| a.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        assert_eq!(listed, allowed, "{kind}.{} enum", f.name);
                        "#/$defs/nonEmpty"
                    }
                };
                assert_eq!(def, want_def, "{kind}.{}", f.name);
            }
        }
    }
}
