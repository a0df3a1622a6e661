//! Running a firing's actions and recording it as an `alert` event.
//!
//! A `rate_limited` rule's resume firing types its text into the limited
//! pane (then Enter) and appends a `message` event, and nothing else.
//! Other firings run their actions in this order: tmux (type the message into the pane, then
//! Enter, and append a `message` event from [`SENDER`]), command (`sh -c`,
//! the alert in `ORC_LOG_*` environment variables, at most
//! [`COMMAND_TIMEOUT`]), webhook (POST of the alert as JSON, at most
//! [`WEBHOOK_TIMEOUT`]). A failing action does not stop the others; every
//! outcome goes into the alert's `actions` text, e.g.
//! `tmux team:0.0 ok; command exit 0; webhook 200`.

use crate::config::{Rule, Rules};
use crate::eval::Firing;
use orc_log_engine::SharedLog;
use orc_log_schemas::{Event, EventBody, format_rfc3339, now_ns};
use orc_log_tmux::Tmux;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `from` of the `message` events tmux actions append.
pub const SENDER: &str = "orc-log-alerts";
/// A command still running after this is killed (and reported as such).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// A webhook not answered within this fails.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs firings' actions against one log and tmux server.
#[derive(Debug, Clone)]
pub struct Actor {
    log: SharedLog,
    tmux: Tmux,
}

impl Actor {
    /// Actions for `log`, typing into the tmux server `rules.tmux_socket` names (the default server if none).
    pub fn new(log: SharedLog, rules: &Rules) -> Self {
        let tmux = match &rules.tmux_socket {
            Some(name) => Tmux::named(name.clone()),
            None => Tmux::default_server(),
        };
        Self { log, tmux }
    }

    /// Runs `rule`'s actions for `firing`, then appends its `alert` event.
    /// Failures are logged (tracing) and named in the alert's `actions`;
    /// the summary is returned.
    pub fn act(&self, rule: &Rule, firing: &Firing) -> String {
        let mut outcomes: Vec<String> = Vec::new();
        match (&firing.resume, &firing.target) {
            // A resume types its text into the limited pane, and does nothing else.
            (Some(text), Some(pane)) => {
                outcomes.push(format!("resume: {}", self.type_into(pane, text, firing)));
            }
            _ => {
                if let Some(pane) = &rule.action.tmux {
                    outcomes.push(self.type_into(pane, &firing.message, firing));
                }
                if let Some(command) = &rule.action.command {
                    outcomes.push(run_command(command, firing));
                }
                if let Some(url) = &rule.action.webhook {
                    outcomes.push(post(url, firing));
                }
            }
        }
        let actions = outcomes.join("; ");
        let alert = Event {
            ts_ns: now_ns(),
            id: None,
            body: EventBody::Alert {
                rule: firing.rule.clone(),
                incident: firing.incident.clone(),
                target: firing.target.clone(),
                message: firing.message.clone(),
                actions: Some(actions.clone()),
            },
        };
        if let Err(e) = self.log.append(vec![alert]) {
            tracing::error!(rule = %firing.rule, incident = %firing.incident, error = %e, "cannot append the alert event");
        }
        actions
    }

    fn type_into(&self, pane: &orc_log_schemas::Target, text: &str, firing: &Firing) -> String {
        let p = pane.to_string();
        // One line: a newline inside would submit early.
        let text = text.replace(['\n', '\r'], " ");
        match self.tmux.send_keys(&p, &text) {
            Ok(()) => {
                let msg = Event {
                    ts_ns: now_ns(),
                    id: None,
                    body: EventBody::Message { from: SENDER.to_owned(), to: pane.clone(), text },
                };
                match self.log.append(vec![msg]) {
                    Ok(_) => format!("tmux {p} ok"),
                    Err(e) => {
                        tracing::warn!(pane = %p, error = %e, "typed the alert but cannot log the message");
                        format!("tmux {p} ok (message not logged: {e})")
                    }
                }
            }
            Err(e) => {
                tracing::warn!(rule = %firing.rule, pane = %p, error = %e, "alert tmux action failed");
                format!("tmux {p} failed: {e}")
            }
        }
    }
}

/// The `ORC_LOG_*` environment of a command action.
pub fn command_env(firing: &Firing) -> Vec<(&'static str, String)> {
    vec![
        ("ORC_LOG_RULE", firing.rule.clone()),
        (
            "ORC_LOG_TARGET",
            firing.target.as_ref().map_or_else(|| firing.session.clone(), ToString::to_string),
        ),
        ("ORC_LOG_MESSAGE", firing.message.clone()),
        ("ORC_LOG_INCIDENT", firing.incident.clone()),
        ("ORC_LOG_SEQ", firing.seq.to_string()),
        ("ORC_LOG_TS", format_rfc3339(firing.ts_ns)),
    ]
}

fn run_command(command: &str, firing: &Firing) -> String {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in command_env(firing) {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(rule = %firing.rule, error = %e, "alert command cannot start");
            return format!("command failed to start: {e}");
        }
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    tracing::warn!(rule = %firing.rule, %status, "alert command failed");
                }
                return match status.code() {
                    Some(code) => format!("command exit {code}"),
                    None => format!("command {status}"),
                };
            }
            Ok(None) if start.elapsed() >= COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!(rule = %firing.rule, "alert command killed after {COMMAND_TIMEOUT:?}");
                return format!("command killed after {}s", COMMAND_TIMEOUT.as_secs());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return format!("command wait failed: {e}"),
        }
    }
}

/// The JSON body of a webhook: `{"rule", "incident", "target", "session",
/// "message", "seq", "ts"}` (`ts` RFC 3339).
pub fn webhook_body(firing: &Firing) -> serde_json::Value {
    serde_json::json!({
        "rule": firing.rule,
        "incident": firing.incident,
        "target": firing.target.as_ref().map(ToString::to_string),
        "session": firing.session,
        "message": firing.message,
        "seq": firing.seq,
        "ts": format_rfc3339(firing.ts_ns),
    })
}

fn post(url: &str, firing: &Firing) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(WEBHOOK_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let body = webhook_body(firing).to_string();
    match agent.post(url).header("content-type", "application/json").send(body.as_bytes()) {
        Ok(resp) => {
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) {
                tracing::warn!(rule = %firing.rule, url, status, "alert webhook answered with an error status");
            }
            format!("webhook {status}")
        }
        Err(e) => {
            tracing::warn!(rule = %firing.rule, url, error = %e, "alert webhook failed");
            format!("webhook failed: {e}")
        }
    }
}
