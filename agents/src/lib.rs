//! Coding agents (Claude Code) as orc-log events.
//!
//! - [`hook`]: one hook payload (the JSON object Claude Code writes to a hook
//!   command's stdin) -> one event of the agent kinds (`agent_session`,
//!   `prompt`, `tool_call`, `notification`, `agent_stop`, `agent_hook`).
//! - [`text`]: bounded, redacted text for what those events keep.
//! - [`transcript`]: a session transcript (JSONL) -> prompts, tool calls and
//!   session starts, with the hooks' ids.
//! - [`settings`]: the `orc-log hook` entries of a Claude Code settings file.
//! - [`otel`]: OTLP log records and metrics of Claude Code, Codex and Gemini
//!   CLI -> `agent_usage` events.
//! - [`prices`]: the price table (`agents/prices.toml`) for usage without a cost.
//!
//! Nothing here does I/O beyond the buffers it is handed; the `orc-log hook`
//! command reads stdin, resolves the pane and appends.

pub mod hook;
pub mod otel;
pub mod prices;
pub mod settings;
pub mod text;
pub mod transcript;
