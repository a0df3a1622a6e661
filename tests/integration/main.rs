//! Integration tests: the real `orc-log` binary.
//!
//! One test binary (declared in cli/Cargo.toml) so the large binary is linked
//! once. Shared helpers live in `common`; each other module is one area.

// Tests report failures by panicking; unwrap/expect are the point here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agents_import;
mod alerts;
mod backup;
mod bad_input;
mod checkpoints;
mod common;
mod compact;
mod concurrency;
mod corruption;
mod crash;
mod demo;
mod docs;
mod emit;
mod engines;
mod hooks;
mod mcp;
mod otlp;
mod projections;
mod readme;
mod record;
mod redact;
mod report;
mod resurrect;
mod roundtrip;
mod scripts;
mod search;
mod server;
mod session_view;
mod sql;
mod times;
mod upgrade;
mod web;
mod web_ui;
