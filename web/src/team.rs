//! The team page's data: the `state` projection plus what a card shows
//! beyond it (a preview of the last capture, the last message out, the
//! time of the last content change), folded together in one pass.
//!
//! [`Team`] is a [`Projection`] so time travel reuses the runner's
//! `view_at`. The web view keeps the present in memory (no checkpoint named
//! `web-team`); the follower stores its time-travel checkpoints
//! (`web-team@SEQ`, every [`orc_log_projections::history::EVERY`] events),
//! so `/api/team?at=` folds at most that many events.

use orc_log_engine::EventMeta;
use orc_log_projections::Projection;
use orc_log_projections::ansi;
use orc_log_projections::state::{DEFAULT_IDLE_SECS, State, StateView};
use orc_log_schemas::{Event, EventBody, Target, format_rfc3339};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Rows of a capture kept for the card's preview (the last ones with text).
pub const PREVIEW_ROWS: usize = 12;
/// Characters kept of each preview row (escape sequences included).
pub const PREVIEW_COLS: usize = 240;

/// What a card shows beyond the state projection, per pane.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Extra {
    /// The last rows of the last capture: SGR colours kept, every other
    /// escape sequence and control character removed.
    preview: String,
    /// Hash of the last capture's content (to see changes).
    content_hash: u64,
    /// When the content last changed (or the pane was first captured), UTC ns.
    last_change_ns: Option<i64>,
    /// Time of the newest capture, UTC ns: older ones do not replace the preview.
    last_capture_ns: Option<i64>,
    /// The newest message this pane (or its agent) sent: ts, recipient, text.
    last_out: Option<(i64, String, String)>,
}

/// The `state` projection and the cards' extras, folded together.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Team {
    state: State,
    extras: BTreeMap<String, Extra>,
    /// Agent name -> pane, from `agent_registered`.
    agents: BTreeMap<String, String>,
    /// Panes tmux or an agent reported (see [`reported_by_tmux`]).
    #[serde(default)]
    reported: BTreeSet<String>,
}

/// Whether `body` comes from the pane itself: the recorder (captures,
/// crashes, window lifecycle) or the agent running in it (hook events).
/// Messages, schedules, registrations, markers and alerts only name a
/// target, which may be a script's typo.
pub fn reported_by_tmux(body: &EventBody) -> bool {
    matches!(
        body,
        EventBody::Capture { .. }
            | EventBody::Crash { .. }
            | EventBody::WindowOpened { .. }
            | EventBody::WindowRenamed { .. }
            | EventBody::WindowClosed { .. }
            | EventBody::AgentSession { .. }
            | EventBody::Prompt { .. }
            | EventBody::ToolCall { .. }
            | EventBody::Notification { .. }
            | EventBody::AgentStop { .. }
            | EventBody::AgentHook { .. }
    )
}

/// The last `PREVIEW_ROWS` rows with text of `content`, each cut to
/// `PREVIEW_COLS` characters, escapes other than SGR removed.
pub fn preview(content: &str) -> String {
    let text = ansi::strip(content);
    let rows: Vec<&str> = text.trim_end_matches(['\n', ' ']).split('\n').collect();
    let from = rows.len().saturating_sub(PREVIEW_ROWS);
    rows[from..]
        .iter()
        .map(|r| match r.char_indices().nth(PREVIEW_COLS) {
            Some((i, _)) => &r[..i],
            None => r,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// FNV-1a of `text`: stable across runs (the fold must be deterministic).
fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl Projection for Team {
    const NAME: &'static str = "web-team";
    const HISTORY_EVERY: u64 = orc_log_projections::history::EVERY;

    fn apply(&mut self, event: &Event, meta: &EventMeta) -> Result<(), String> {
        self.state.apply(event, meta)?;
        if reported_by_tmux(&event.body)
            && let Some(target) = event.body.target()
        {
            self.reported.insert(target.to_string());
        }
        let ts = event.ts_ns;
        match &event.body {
            EventBody::Capture { target, content, .. } => {
                let e = self.extras.entry(target.to_string()).or_default();
                // A back-dated capture (older than the newest) is history:
                // the card shows the newest screen.
                if e.last_capture_ns.is_some_and(|last| ts < last) {
                    return Ok(());
                }
                e.last_capture_ns = Some(ts);
                let h = hash(content);
                if e.last_change_ns.is_none() || h != e.content_hash {
                    e.last_change_ns = Some(ts);
                    e.content_hash = h;
                    e.preview = preview(content);
                }
            }
            EventBody::AgentRegistered { target, name: Some(name), .. } => {
                self.agents.insert(name.clone(), target.to_string());
            }
            EventBody::Message { from, to, text } => {
                let pane = match from.parse::<Target>() {
                    Ok(t) => Some(t.to_string()),
                    Err(_) => self.agents.get(from).cloned(),
                };
                if let Some(pane) = pane {
                    let out = &mut self.extras.entry(pane).or_default().last_out;
                    if out.as_ref().is_none_or(|(last, _, _)| ts >= *last) {
                        *out = Some((ts, to.to_string(), text.clone()));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A card's extras as JSON. Times RFC 3339.
#[derive(Debug, Clone, Serialize)]
pub struct CardExtra {
    /// The last rows of the last capture (SGR colours kept).
    pub preview: String,
    /// When the content last changed.
    pub last_change: Option<String>,
    /// The last message the pane sent.
    pub last_out: Option<MessageOut>,
}

/// A message a pane sent.
#[derive(Debug, Clone, Serialize)]
pub struct MessageOut {
    /// When.
    pub ts: String,
    /// Recipient pane.
    pub to: String,
    /// Text.
    pub text: String,
}

/// `GET /api/team`: `{"as_of", "state": <state --format json>, "cards": {target: CardExtra}}`.
#[derive(Debug, Clone, Serialize)]
pub struct TeamView {
    /// The time statuses are judged at (RFC 3339).
    pub as_of: String,
    /// Exactly what `orc-log state --format json` shows for the same point.
    pub state: StateView,
    /// Per pane target.
    pub cards: BTreeMap<String, CardExtra>,
    /// The panes of `state` that neither tmux nor an agent ever reported
    /// (only named by a message, schedule, registration or marker: maybe
    /// a script's typo), by target.
    pub unreported: Vec<String>,
}

impl Team {
    /// The last seq folded in.
    pub fn seq(&self) -> u64 {
        self.state.seq()
    }

    /// The view with statuses judged at `as_of_ns` (UTC ns), idle after
    /// [`DEFAULT_IDLE_SECS`] without a content change.
    pub fn view(&self, as_of_ns: i64) -> TeamView {
        let cards = self
            .extras
            .iter()
            .map(|(t, e)| {
                let card = CardExtra {
                    preview: e.preview.clone(),
                    last_change: e.last_change_ns.map(format_rfc3339),
                    last_out: e.last_out.as_ref().map(|(ts, to, text)| MessageOut {
                        ts: format_rfc3339(*ts),
                        to: to.clone(),
                        text: text.clone(),
                    }),
                };
                (t.clone(), card)
            })
            .collect();
        let state = self.state.view(as_of_ns, DEFAULT_IDLE_SECS);
        let unreported = state
            .sessions
            .iter()
            .flat_map(|s| &s.panes)
            .filter(|p| !self.reported.contains(&p.target))
            .map(|p| p.target.clone())
            .collect();
        TeamView { as_of: format_rfc3339(as_of_ns), state, cards, unreported }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use orc_log_schemas::Kind;

    fn meta(seq: u64, ev: &Event) -> EventMeta {
        EventMeta::of(seq, ev)
    }

    fn ev(ts_ns: i64, body: EventBody) -> Event {
        Event { ts_ns, id: None, body }
    }

    fn capture(target: &Target, content: &str) -> EventBody {
        EventBody::Capture {
            target: target.clone(),
            content: content.into(),
            width: None,
            height: None,
            cursor_x: None,
            cursor_y: None,
        }
    }

    #[test]
    fn preview_keeps_last_rows_and_colours_and_drops_other_escapes() {
        let content: String =
            (1..=30).map(|i| format!("\x1b[31mrow {i}\x1b[0m\x1b]52;c;aGk=\x07\n")).collect();
        let p = preview(&format!("{content}\n\n"));
        let rows: Vec<&str> = p.split('\n').collect();
        assert_eq!(rows.len(), PREVIEW_ROWS);
        assert_eq!(rows[0], "\x1b[31mrow 19\x1b[0m");
        assert_eq!(rows[PREVIEW_ROWS - 1], "\x1b[31mrow 30\x1b[0m");
        let long = "x".repeat(10_000);
        assert_eq!(preview(&long).chars().count(), PREVIEW_COLS);
    }

    #[test]
    fn cards_follow_captures_and_messages_out() {
        let t: Target = "p:1.0".parse().unwrap();
        let events = [
            ev(
                1,
                EventBody::AgentRegistered {
                    target: t.clone(),
                    role: "engineer".into(),
                    name: Some("eng".into()),
                },
            ),
            ev(2, capture(&t, "a\n")),
            ev(3, capture(&t, "a\n")),
            ev(
                4,
                EventBody::Message { from: "eng".into(), to: "p:0.0".parse().unwrap(), text: "done".into() },
            ),
        ];
        let mut team = Team::default();
        for (i, e) in events.iter().enumerate() {
            team.apply(e, &meta(i as u64 + 1, e)).unwrap();
        }
        assert_eq!(events[3].body.kind(), Kind::Message);
        let v = team.view(10);
        let card = &v.cards["p:1.0"];
        assert_eq!(card.preview, "a");
        assert_eq!(
            card.last_change.as_deref(),
            Some(format_rfc3339(2).as_str()),
            "unchanged content is no change"
        );
        assert_eq!(card.last_out.as_ref().unwrap().text, "done");
        assert_eq!(v.state.seq, 4);
        assert_eq!(v.unreported, ["p:0.0"], "p:0.0 is only a message's recipient");
    }

    #[test]
    fn panes_only_named_by_scripts_are_unreported() {
        let real: Target = "team:1.0".parse().unwrap();
        let typo: Target = "taem:1.0".parse().unwrap();
        let events = [
            ev(1, EventBody::WindowOpened { target: real.clone(), name: None }),
            ev(2, EventBody::Message { from: "pm".into(), to: typo.clone(), text: "go".into() }),
            ev(3, EventBody::Schedule { target: typo.clone(), note: "check".into(), due_ns: 9 }),
            ev(4, EventBody::Message { from: "pm".into(), to: real.clone(), text: "go".into() }),
        ];
        let mut team = Team::default();
        for (i, e) in events.iter().enumerate() {
            team.apply(e, &meta(i as u64 + 1, e)).unwrap();
        }
        assert_eq!(team.view(10).unreported, ["taem:1.0"]);
        let later = ev(5, capture(&typo, "now it exists\n"));
        team.apply(&later, &meta(5, &later)).unwrap();
        assert!(team.view(10).unreported.is_empty(), "a capture reports the pane");
    }

    #[test]
    fn back_dated_captures_and_messages_do_not_replace_the_card() {
        let t: Target = "p:1.0".parse().unwrap();
        let out = |ts, text: &str| {
            ev(
                ts,
                EventBody::Message { from: "p:1.0".into(), to: "p:0.0".parse().unwrap(), text: text.into() },
            )
        };
        let events =
            [ev(10, capture(&t, "now\n")), out(11, "new"), ev(2, capture(&t, "then\n")), out(3, "old")];
        let mut team = Team::default();
        for (i, e) in events.iter().enumerate() {
            team.apply(e, &meta(i as u64 + 1, e)).unwrap();
        }
        let v = team.view(20);
        let card = &v.cards["p:1.0"];
        assert_eq!(card.preview, "now");
        assert_eq!(card.last_change.as_deref(), Some(format_rfc3339(10).as_str()));
        assert_eq!(card.last_out.as_ref().unwrap().text, "new");
    }
}
