//! orc-log's MCP server: tools with which agents ask the log.
//!
//! Six read-only tools ([`tools`]): `team_state`, `tail`, `search`,
//! `pane_before`, `capture_at` and `query`, each with a JSON Schema input
//! and a bounded output in which everything recorded from agents is fenced
//! off as untrusted data ([`output`]). [`server`] puts them behind the
//! official Rust SDK (rmcp): over stdio for `orc-log mcp`, and as Streamable
//! HTTP at `/mcp` of `orc-log serve --http`. [`config`] adds the server to
//! Claude Code's MCP configuration (`orc-log mcp install`).
//!
//! Depends on the engine and projections, never on the CLI: the binary
//! supplies a [`server::Backend`] (the log in this process, or a running
//! `orc-log serve` asked over its socket).

pub mod config;
pub mod output;
pub mod server;
pub mod tools;

pub use output::ToolOutput;
pub use server::{Backend, LogServer, PROTOCOL_VERSION, ServeError, http_service, serve_stdio};
pub use tools::ToolCall;
