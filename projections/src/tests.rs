//! given(events) -> then(state) tests, the fixture, replay properties and
//! Prometheus parsing.

use crate::metrics::Metrics;
use crate::state::{PaneView, State, StateView};
use crate::{Projection, catch_up, prometheus, rebuild, view_at};
use orc_log_engine::{Config, EventMeta, SharedLog};
use orc_log_schemas::{Event, EventBody, Target, parse_line, parse_rfc3339};
use proptest::prelude::*;

const SEC: i64 = 1_000_000_000;

fn t(s: &str) -> Target {
    s.parse().unwrap()
}

fn ev(ts_secs: i64, body: EventBody) -> Event {
    Event { ts_ns: ts_secs * SEC, id: None, body }
}

fn capture(ts: i64, target: &str, content: &str) -> Event {
    ev(
        ts,
        EventBody::Capture {
            target: t(target),
            content: content.into(),
            width: None,
            height: None,
            cursor_x: None,
            cursor_y: None,
        },
    )
}

/// Folds `events` into a fresh projection (seqs 1..).
fn given<P: Projection>(events: &[Event]) -> P {
    let mut p = P::default();
    for (i, e) in events.iter().enumerate() {
        let meta = EventMeta {
            seq: i as u64 + 1,
            ts_ns: e.ts_ns,
            kind: e.kind(),
            scope: None,
            raw_bytes: 10,
            stored_bytes: 4,
            expired: false,
        };
        p.apply(e, &meta).unwrap();
    }
    p
}

fn pane<'a>(view: &'a StateView, target: &str) -> &'a PaneView {
    view.sessions.iter().flat_map(|s| &s.panes).find(|p| p.target == target).unwrap()
}

#[test]
fn pane_becomes_active_then_idle() {
    let s: State =
        given(&[ev(0, EventBody::SessionOpened { session: "p".into() }), capture(10, "p:1.0", "a")]);
    assert_eq!(pane(&s.view(10 * SEC, 300), "p:1.0").status, "active");
    assert_eq!(pane(&s.view(309 * SEC, 300), "p:1.0").status, "active");
    assert_eq!(pane(&s.view(310 * SEC, 300), "p:1.0").status, "idle");
    assert_eq!(pane(&s.view(20 * SEC, 5), "p:1.0").status, "idle", "idle threshold is configurable");
}

#[test]
fn unchanged_capture_does_not_reset_idle_but_a_change_does() {
    let s: State = given(&[capture(0, "p:1.0", "a"), capture(200, "p:1.0", "a")]);
    assert_eq!(pane(&s.view(300 * SEC, 300), "p:1.0").status, "idle");
    assert_eq!(pane(&s.view(300 * SEC, 300), "p:1.0").captures, 2);
    let s: State = given(&[capture(0, "p:1.0", "a"), capture(200, "p:1.0", "b")]);
    assert_eq!(pane(&s.view(300 * SEC, 300), "p:1.0").status, "active");
}

#[test]
fn crashed_until_content_changes() {
    let crash = ev(
        5,
        EventBody::Crash { target: t("p:1.0"), reason: "traceback".into(), excerpt: None, detector: None },
    );
    let s: State = given(&[capture(0, "p:1.0", "a"), crash.clone()]);
    let v = s.view(6 * SEC, 300);
    let p = pane(&v, "p:1.0");
    assert_eq!((p.status.as_str(), p.crashes), ("crashed", 1));
    assert_eq!(p.last_crash.as_ref().unwrap().reason, "traceback");
    assert_eq!(pane(&s.view(10_000 * SEC, 300), "p:1.0").status, "crashed", "crashed beats idle");
    let s: State = given(&[capture(0, "p:1.0", "a"), crash.clone(), capture(7, "p:1.0", "a")]);
    assert_eq!(pane(&s.view(8 * SEC, 300), "p:1.0").status, "crashed", "same content: still crashed");
    let s: State = given(&[capture(0, "p:1.0", "a"), crash, capture(7, "p:1.0", "b")]);
    let v = s.view(8 * SEC, 300);
    assert_eq!((pane(&v, "p:1.0").status.as_str(), pane(&v, "p:1.0").crashes), ("active", 1));
}

#[test]
fn closed_by_session_or_window_and_reopened_by_activity() {
    let s: State = given(&[
        ev(0, EventBody::SessionOpened { session: "p".into() }),
        capture(1, "p:1.0", "a"),
        capture(1, "p:2.0", "a"),
        ev(2, EventBody::WindowClosed { target: t("p:1.0") }),
    ]);
    let v = s.view(3 * SEC, 300);
    assert_eq!(pane(&v, "p:1.0").status, "closed");
    assert_eq!(pane(&v, "p:2.0").status, "active");
    assert!(v.sessions[0].open);
    let s: State = given(&[
        ev(0, EventBody::SessionOpened { session: "p".into() }),
        capture(1, "p:2.0", "a"),
        ev(2, EventBody::SessionClosed { session: "p".into() }),
    ]);
    let v = s.view(3 * SEC, 300);
    assert!(!v.sessions[0].open);
    assert_eq!(pane(&v, "p:2.0").status, "closed");
    let s: State =
        given(&[ev(0, EventBody::WindowClosed { target: t("p:2.0") }), capture(5, "p:2.0", "new")]);
    // A window closed before its pane was seen does not close later panes; a capture reopens.
    assert_eq!(pane(&s.view(6 * SEC, 300), "p:2.0").status, "active");
}

#[test]
fn names_roles_and_messages() {
    let s: State = given(&[
        ev(0, EventBody::WindowOpened { target: t("p:1.0"), name: Some("eng".into()) }),
        ev(
            0,
            EventBody::AgentRegistered {
                target: t("p:1.0"),
                role: "engineer".into(),
                name: Some("bob".into()),
            },
        ),
        ev(
            0,
            EventBody::AgentRegistered {
                target: t("p:0.0"),
                role: "project_manager".into(),
                name: Some("pm".into()),
            },
        ),
        ev(1, EventBody::WindowRenamed { target: t("p:1.0"), name: Some("eng-2".into()) }),
        ev(2, EventBody::Message { from: "pm".into(), to: t("p:1.0"), text: "hi".into() }),
        ev(3, EventBody::Message { from: "p:1.0".into(), to: t("p:0.0"), text: "done".into() }),
        ev(4, EventBody::Message { from: "bob".into(), to: t("p:0.0"), text: "really".into() }),
    ]);
    let v = s.view(5 * SEC, 300);
    let eng = pane(&v, "p:1.0");
    assert_eq!(eng.name.as_deref(), Some("eng-2"));
    assert_eq!((eng.agent.as_deref(), eng.role.as_deref()), (Some("bob"), Some("engineer")));
    assert_eq!((eng.messages_in, eng.messages_out), (1, 2), "by target and by agent name");
    assert_eq!(eng.last_message.as_ref().unwrap().text, "hi");
    let pm = pane(&v, "p:0.0");
    assert_eq!((pm.messages_in, pm.messages_out), (2, 1));
}

#[test]
fn schedules_pending_overdue_fired() {
    let sched = |ts, note: &str, due| {
        ev(ts, EventBody::Schedule { target: t("o:0.0"), note: note.into(), due_ns: due * SEC })
    };
    let s: State = given(&[sched(0, "a", 60), sched(0, "b", 120)]);
    let v = s.view(30 * SEC, 300);
    assert_eq!(v.schedules.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(), ["pending", "pending"]);
    let v = s.view(90 * SEC, 300);
    assert_eq!(v.schedules.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(), ["overdue", "pending"]);
    let s: State = given(&[
        sched(0, "a", 60),
        sched(0, "b", 120),
        ev(61, EventBody::ScheduleFired { target: t("o:0.0"), note: Some("b".into()) }),
    ]);
    let v = s.view(90 * SEC, 300);
    assert_eq!(v.schedules.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(), ["overdue", "fired"]);
    let s: State =
        given(&[sched(0, "a", 60), ev(61, EventBody::ScheduleFired { target: t("o:0.0"), note: None })]);
    assert_eq!(s.view(90 * SEC, 300).schedules[0].status, "fired");
}

fn fixture() -> Vec<Event> {
    include_str!("../../tests/fixtures/tmux-session-a.ndjson")
        .lines()
        .map(|l| parse_line(l, 0).unwrap())
        .collect()
}

fn fixture_log(dir: &std::path::Path) -> SharedLog {
    let log = SharedLog::open(dir, Config::default()).unwrap();
    log.append(fixture()).unwrap();
    log
}

#[test]
fn fixture_state() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    let out = catch_up::<State>(&log).unwrap();
    let end = fixture().last().unwrap().ts_ns;
    let v = out.projection.view(end, 300);
    assert_eq!(v.seq, 166);
    assert!(v.sessions.iter().all(|s| !s.open), "sessions closed at the end");
    assert_eq!(v.sessions.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["orch", "proj"]);
    let eng = pane(&v, "proj:1.0");
    assert_eq!(eng.crashes, 1, "the crash in proj:1.0 is counted");
    assert_eq!(eng.role.as_deref(), Some("engineer"));
    assert_eq!(pane(&v, "orch:0.0").role.as_deref(), Some("orchestrator"));
    assert_eq!(pane(&v, "proj:0.0").role.as_deref(), Some("project_manager"));
    assert!(v.sessions.iter().flat_map(|s| &s.panes).all(|p| p.status == "closed"));
    let captures: u64 = v.sessions.iter().flat_map(|s| &s.panes).map(|p| p.captures).sum();
    assert_eq!(captures, 146);
    // Just after the crash signal, before the pane changed again: crashed.
    let crash_ts = parse_rfc3339("2026-11-20T23:04:07.285440Z").unwrap();
    let seq = log.snapshot().seq_at_time(crash_ts).unwrap();
    let at = view_at::<State>(&log.snapshot(), seq).unwrap().projection.view(crash_ts, 300);
    assert_eq!(pane(&at, "proj:1.0").status, "crashed");
}

#[test]
fn replay_after_deleting_checkpoints_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    let now = 0;
    let a = serde_json::to_string(&catch_up::<State>(&log).unwrap().projection.view(now, 300)).unwrap();
    let am = prometheus::render(&catch_up::<Metrics>(&log).unwrap().projection.families(now));
    log.delete_checkpoint("state").unwrap();
    log.delete_checkpoint("metrics").unwrap();
    let b = serde_json::to_string(&rebuild::<State>(&log, None).unwrap().projection.view(now, 300)).unwrap();
    let bm = prometheus::render(&rebuild::<Metrics>(&log, None).unwrap().projection.families(now));
    assert_eq!(a, b);
    assert_eq!(am, bm);
    // and the stored checkpoint is used next time
    let c = catch_up::<State>(&log).unwrap();
    assert_eq!((c.from_checkpoint, c.applied), (166, 0));
}

#[test]
fn metrics_text_parses_with_a_prometheus_parser() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    let m = catch_up::<Metrics>(&log).unwrap().projection;
    let text = prometheus::render(&m.families(0));
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let value = |name: &str, label: (&str, &str)| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
            .map(|s| s.value.clone())
    };
    assert!(
        matches!(value("orc_log_events_total", ("kind", "capture")), Some(prometheus_parse::Value::Counter(v)) if v == 146.0)
    );
    assert!(
        matches!(value("orc_log_crashes_total", ("target", "proj:1.0")), Some(prometheus_parse::Value::Counter(v)) if v == 1.0)
    );
    assert!(matches!(
        value("orc_log_message_response_seconds", ("target", "proj:1.0")),
        Some(prometheus_parse::Value::Histogram(_))
    ));
    assert!(scrape.docs.contains_key("orc_log_raw_bytes_total"));
    // Label values with quotes, backslashes and newlines survive.
    let fam = prometheus::Family {
        name: "x_total",
        help: "h",
        kind: prometheus::MetricType::Counter,
        samples: vec![prometheus::Sample {
            name: "x_total".into(),
            labels: vec![("from".into(), "a\"b\\c\nd".into())],
            value: 1.0,
        }],
    };
    let text = prometheus::render(&[fam]);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    // prometheus-parse 0.2 returns label values still escaped; unescape per the format.
    let raw = scrape.samples[0].labels.get("from").unwrap();
    let unescaped = raw.replace("\\n", "\n").replace("\\\"", "\"").replace("\\\\", "\\");
    assert_eq!(unescaped, "a\"b\\c\nd");
}

#[test]
fn response_latency_is_message_to_next_change() {
    let m: Metrics = given(&[
        capture(0, "p:1.0", "a"),
        ev(10, EventBody::Message { from: "pm".into(), to: t("p:1.0"), text: "go".into() }),
        capture(11, "p:1.0", "a"),
        capture(13, "p:1.0", "b"),
        capture(14, "p:1.0", "c"),
    ]);
    let fams = m.families(0);
    let h = fams.iter().find(|f| f.name == "orc_log_message_response_seconds").unwrap();
    let get = |name: &str, le: Option<&str>| {
        h.samples
            .iter()
            .find(|s| {
                s.name == name && le.is_none_or(|le| s.labels.iter().any(|(k, v)| k == "le" && v == le))
            })
            .unwrap()
            .value
    };
    assert_eq!(get("orc_log_message_response_seconds_count", None), 1.0);
    assert_eq!(get("orc_log_message_response_seconds_sum", None), 3.0);
    assert_eq!(get("orc_log_message_response_seconds_bucket", Some("2.5")), 0.0);
    assert_eq!(get("orc_log_message_response_seconds_bucket", Some("5")), 1.0);
}

fn tool(ts: i64, phase: &str, tool: &str, id: &str) -> Event {
    ev(
        ts,
        EventBody::ToolCall {
            target: Some(t("p:1.0")),
            agent_session_id: "s".into(),
            phase: phase.into(),
            tool: tool.into(),
            tool_use_id: Some(id.into()),
            input: None,
            response: None,
            raw: None,
        },
    )
}

#[test]
fn agent_events_drive_the_pane_status() {
    let prompt = ev(
        1,
        EventBody::Prompt {
            target: Some(t("p:1.0")),
            agent_session_id: "s".into(),
            text: "go".into(),
            raw: None,
        },
    );
    let ask = ev(
        3,
        EventBody::Notification {
            target: Some(t("p:1.0")),
            agent_session_id: "s".into(),
            message: "Claude needs your permission to use Bash".into(),
            notification_type: None,
            raw: None,
        },
    );
    let idle_note = ev(
        3,
        EventBody::Notification {
            target: Some(t("p:1.0")),
            agent_session_id: "s".into(),
            message: "Claude is waiting for your input".into(),
            notification_type: Some("idle_prompt".into()),
            raw: None,
        },
    );
    let stop = ev(
        5,
        EventBody::AgentStop {
            target: Some(t("p:1.0")),
            agent_session_id: "s".into(),
            agent_id: None,
            raw: None,
        },
    );
    let sub_stop = ev(
        5,
        EventBody::AgentStop {
            target: Some(t("p:1.0")),
            agent_session_id: "s".into(),
            agent_id: Some("a".into()),
            raw: None,
        },
    );
    let crash =
        ev(2, EventBody::Crash { target: t("p:1.0"), reason: "x".into(), excerpt: None, detector: None });
    let status = |events: &[Event]| {
        let s: State = given(events);
        let v = s.view(6 * SEC, 300);
        let p = pane(&v, "p:1.0").clone();
        (p.status, p.current_tool.map(|c| c.tool))
    };
    let pre = tool(2, "pre", "Bash", "1");
    let post = tool(4, "post", "Bash", "1");
    assert_eq!(status(&[prompt.clone(), pre.clone()]), ("active".into(), Some("Bash".into())));
    assert_eq!(status(&[prompt.clone(), pre.clone(), ask.clone()]), ("waiting".into(), Some("Bash".into())));
    assert_eq!(status(&[prompt.clone(), pre.clone(), idle_note]), ("active".into(), Some("Bash".into())));
    assert_eq!(status(&[prompt.clone(), pre.clone(), ask.clone(), post.clone()]), ("active".into(), None));
    assert_eq!(status(&[prompt.clone(), stop.clone()]), ("idle".into(), None), "a stopped agent is idle");
    assert_eq!(status(&[prompt.clone(), sub_stop]), ("active".into(), None), "a subagent stop is not");
    assert_eq!(status(std::slice::from_ref(&crash)), ("crashed".into(), None));
    let prompt_after_crash = ev(
        3,
        EventBody::Prompt {
            target: Some(t("p:1.0")),
            agent_session_id: "s".into(),
            text: "again".into(),
            raw: None,
        },
    );
    assert_eq!(
        status(&[crash.clone(), prompt_after_crash]),
        ("active".into(), None),
        "an agent that acts again runs"
    );
    assert_eq!(
        status(&[crash, prompt.clone()]),
        ("crashed".into(), None),
        "an older prompt logged later is history"
    );
    let s: State = given(&[prompt, pre, post, tool(5, "pre", "Read", "2"), tool(6, "failure", "Read", "2")]);
    let v = s.view(6 * SEC, 300);
    let p = pane(&v, "p:1.0");
    assert_eq!((p.tool_calls, p.tool_failures), (2, 1));
    assert_eq!(p.last_prompt.as_ref().unwrap().text, "go");
}

#[test]
fn tool_call_metrics_pair_pre_with_post_by_id() {
    let m: Metrics = given(&[
        tool(0, "pre", "Bash", "a"),
        tool(1, "pre", "Read", "b"),
        tool(3, "post", "Bash", "a"),
        tool(4, "failure", "Read", "b"),
        tool(9, "post", "Bash", "never-started"),
    ]);
    let text = prometheus::render(&m.families(0));
    assert!(
        text.contains("orc_log_tool_calls_total{target=\"p:1.0\",tool=\"Bash\",outcome=\"ok\"} 2"),
        "{text}"
    );
    assert!(text.contains("orc_log_tool_calls_total{target=\"p:1.0\",tool=\"Read\",outcome=\"failure\"} 1"));
    assert!(text.contains("orc_log_tool_call_duration_seconds_sum{tool=\"Bash\"} 3"), "{text}");
    assert!(
        text.contains("orc_log_tool_call_duration_seconds_count{tool=\"Bash\"} 1"),
        "unpaired post: no duration"
    );
    assert!(text.contains("orc_log_tool_call_duration_seconds_sum{tool=\"Read\"} 3"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]
    /// Catching up in random chunk sizes == rebuilding from scratch == --until-seq at every cut.
    #[test]
    fn incremental_equals_rebuild_equals_until_seq(chunks in proptest::collection::vec(1usize..40, 1..12)) {
        let events = fixture();
        let dir = tempfile::tempdir().unwrap();
        let log = SharedLog::open(dir.path(), Config::default()).unwrap();
        let mut at = 0;
        let mut cuts = Vec::new();
        for n in chunks.iter().copied().cycle() {
            if at >= events.len() { break; }
            let end = (at + n).min(events.len());
            log.append(events[at..end].to_vec()).unwrap();
            at = end;
            let s = catch_up::<State>(&log).unwrap().projection;
            let m = catch_up::<Metrics>(&log).unwrap().projection;
            cuts.push((at as u64, s, m));
        }
        for (seq, s, m) in cuts {
            let fresh: State = given(&events[..seq as usize]);
            prop_assert_eq!(s.view(0, 300), fresh.view(0, 300));
            let until = view_at::<State>(&log.snapshot(), seq).unwrap().projection;
            prop_assert_eq!(until.view(0, 300), s.view(0, 300));
            let until_m = view_at::<Metrics>(&log.snapshot(), seq).unwrap().projection;
            prop_assert_eq!(prometheus::render(&until_m.families(0)), prometheus::render(&m.families(0)));
        }
        let full = rebuild::<State>(&log, None).unwrap().projection;
        let inc = catch_up::<State>(&log).unwrap().projection;
        prop_assert_eq!(full, inc);
    }
}

/// A projection that cannot apply markers: the runner must stop there.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Fussy {
    seen: u64,
}

impl Projection for Fussy {
    const NAME: &'static str = "fussy";

    fn apply(&mut self, event: &Event, _meta: &EventMeta) -> Result<(), String> {
        if matches!(event.body, EventBody::Marker { .. }) {
            return Err("markers are not allowed".into());
        }
        self.seen += 1;
        Ok(())
    }
}

#[test]
fn a_failing_projection_reports_the_seq_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    let marker_seq =
        fixture().iter().position(|e| matches!(e.body, EventBody::Marker { .. })).unwrap() as u64 + 1;
    let err = catch_up::<Fussy>(&log).unwrap_err();
    assert!(
        matches!(&err, crate::ProjectionError::Apply { name: "fussy", seq, .. } if *seq == marker_seq),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("seq {marker_seq}")));
    assert_eq!(log.snapshot().checkpoint("fussy").unwrap(), None, "no checkpoint past the failure");
    assert!(rebuild::<Fussy>(&log, None).is_err());
}

fn session(ts: i64, id: &str, phase: &str) -> Event {
    ev(
        ts,
        EventBody::AgentSession {
            target: Some(t("p:1.0")),
            agent_session_id: id.into(),
            phase: phase.into(),
            reason: None,
            cwd: None,
            transcript_path: None,
            raw: None,
        },
    )
}

/// A back-dated event (an import of an older session, `emit --ts` in the
/// past) is counted but never moves "the latest" backwards: the pane's
/// change time, status, agent session, running tool, last prompt, content,
/// crash and message stay those of the newest events.
#[test]
fn back_dated_events_never_move_the_present_backwards() {
    let crash_at = |ts: i64, reason: &str| {
        ev(ts, EventBody::Crash { target: t("p:1.0"), reason: reason.into(), excerpt: None, detector: None })
    };
    let message_at = |ts: i64, text: &str| {
        ev(ts, EventBody::Message { from: "orc".into(), to: t("p:1.0"), text: text.into() })
    };
    let prompt_at = |ts: i64, text: &str| {
        ev(
            ts,
            EventBody::Prompt {
                target: Some(t("p:1.0")),
                agent_session_id: "old".into(),
                text: text.into(),
                raw: None,
            },
        )
    };
    let present = [
        session(1000, "new", "start"),
        capture(1000, "p:1.0", "a"),
        prompt_at(1001, "now"),
        message_at(1002, "hello"),
        capture(1003, "p:1.0", "b"),
        tool(1004, "pre", "Edit", "n1"),
    ];
    let older = [
        session(100, "old", "start"),
        capture(100, "p:1.0", "old screen"),
        prompt_at(101, "then"),
        tool(102, "pre", "Bash", "o1"),
        tool(103, "post", "Bash", "o1"),
        crash_at(104, "old traceback"),
        message_at(105, "stale"),
        ev(106, EventBody::SessionClosed { session: "p".into() }),
        session(107, "old", "end"),
    ];
    let now = 1010 * SEC;
    let before: State = given(&present);
    let after: State = given(&[&present[..], &older[..]].concat());
    let (b, a) = (before.view(now, 300), after.view(now, 300));
    let (pb, pa) = (pane(&b, "p:1.0"), pane(&a, "p:1.0"));
    assert_eq!(pa.status, "active");
    assert_eq!(pa.last_change, pb.last_change);
    assert_eq!(pa.agent_session, pb.agent_session);
    assert_eq!(pa.current_tool.as_ref().map(|c| c.tool.as_str()), Some("Edit"));
    assert_eq!(pa.last_prompt, pb.last_prompt);
    assert_eq!(pa.last_message, pb.last_message);
    assert_eq!(pa.last_capture_ts, pb.last_capture_ts);
    assert!(a.sessions[0].open, "an old session_closed does not close the session open now");
    // Counted all the same: history, not the present.
    assert_eq!((pa.captures, pa.crashes, pa.messages_in, pa.tool_calls), (3, 1, 2, 1));
    assert_eq!(pa.last_crash, None, "older than the pane's first sighting: history");
    assert_eq!(pa.status, pb.status);
    // Into a pane seen first by the old events, then live: the live ones win.
    let s: State = given(&[&older[..], &present[..]].concat());
    let v = s.view(now, 300);
    let p = pane(&v, "p:1.0");
    assert_eq!(p.agent_session.as_ref().map(|a| (a.id.as_str(), a.running)), Some(("new", true)));
    assert_eq!(p.last_crash.as_ref().unwrap().reason, "old traceback");
    assert_eq!(p.status, "active", "the newer session start runs the agent again after the old crash");
    // The old screen did not become the content: the same newest screen again is no change.
    let mut again = [&present[..], &older[..]].concat();
    again.push(capture(1200, "p:1.0", "b"));
    let s: State = given(&again);
    assert_eq!(pane(&s.view(1305 * SEC, 300), "p:1.0").status, "idle", "no change since 1004 s");
    // Log order still decides between equal times.
    let s: State = given(&[capture(5, "p:1.0", "a"), crash_at(5, "x")]);
    assert_eq!(pane(&s.view(6 * SEC, 300), "p:1.0").status, "crashed");
}

/// A checkpoint of another format (an older release's) is rebuilt, with
/// the same answer as a fold from scratch.
#[test]
fn a_checkpoint_of_another_format_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    let old = br#"{"format":1,"seq":166,"state":{"seq":166,"panes":"not this format's"}}"#;
    log.put_checkpoint("state", old).unwrap();
    let out = catch_up::<State>(&log).unwrap();
    assert_eq!((out.from_checkpoint, out.applied), (0, 166), "rebuilt from scratch");
    let end = fixture().last().unwrap().ts_ns;
    let fresh = rebuild::<State>(&log, None).unwrap();
    assert_eq!(out.projection.view(end, 300), fresh.projection.view(end, 300));
    // The rebuilt checkpoint is this format's and is used next time.
    assert_eq!(catch_up::<State>(&log).unwrap().from_checkpoint, 166);
}

/// A day of schedules: the state keeps the pending ones and a few per pane,
/// its checkpoint does not grow with the log, and the metrics still count
/// every schedule by status.
#[test]
fn schedules_stay_bounded_over_a_long_log() {
    use crate::schedules::{KEEP_FIRED, KEEP_OVERDUE};
    let panes = ["a:0.0", "a:1.0", "b:0.0", "b:1.0"];
    // A schedule every 10 s, due 60 s later; nine in ten fire when due, the rest never.
    let day = |n: i64| -> Vec<Event> {
        let mut events = Vec::new();
        let mut open: std::collections::VecDeque<(i64, &str, String)> = Default::default();
        for i in 0..n {
            let ts = i * 10;
            while open.front().is_some_and(|(due, _, _)| *due <= ts) {
                let (_, target, note) = open.pop_front().unwrap();
                events.push(ev(ts, EventBody::ScheduleFired { target: t(target), note: Some(note) }));
            }
            let (target, note) = (panes[i as usize % panes.len()], format!("check {i}"));
            events.push(ev(
                ts,
                EventBody::Schedule { target: t(target), note: note.clone(), due_ns: (ts + 60) * SEC },
            ));
            if i % 10 != 9 {
                open.push_back((ts + 60, target, note));
            }
        }
        events
    };
    let size = |n: i64| {
        let events = day(n);
        let s: State = given(&events);
        let m: Metrics = given(&events);
        let now = events.last().unwrap().ts_ns;
        let v = s.view(now, 300);
        // At most: pending (due within 60 s: 6) + overdue within the grace
        // (one in ten of those due in it never fires) + a few per pane.
        let in_grace = (crate::schedules::OVERDUE_GRACE_NS / SEC / 10 / 10) as usize;
        assert!(
            v.schedules.len() <= 6 + in_grace + panes.len() * (KEEP_FIRED + KEEP_OVERDUE),
            "{}",
            v.schedules.len()
        );
        assert!(v.schedules.windows(2).all(|w| w[0].seq < w[1].seq), "in log order");
        let text = prometheus::render(&m.families(now));
        let count = |status: &str| -> u64 {
            let line = format!("orc_log_schedules_total{{status=\"{status}\"}} ");
            text.lines().find_map(|l| l.strip_prefix(&line)).unwrap().parse().unwrap()
        };
        let fired =
            events.iter().filter(|e| matches!(e.body, EventBody::ScheduleFired { .. })).count() as u64;
        assert_eq!(count("fired"), fired);
        assert_eq!(count("fired") + count("overdue") + count("pending"), n as u64, "every schedule counted");
        assert_eq!(count("overdue"), n as u64 / 10 - 1, "the ones never fired, but the last (not due yet)");
        (serde_json::to_vec(&s).unwrap().len(), serde_json::to_vec(&m).unwrap().len())
    };
    // Unique notes: each pane also counts up to DROPPED_NOTES notes of dropped
    // schedules, full after a few hours; from then on nothing grows.
    let (state_day, metrics_day) = size(360 * 24);
    let (state_days, metrics_days) = size(360 * 24 * 3);
    assert!(
        state_days < state_day * 11 / 10,
        "state: {state_day} bytes after a day, {state_days} after three"
    );
    assert!(
        metrics_days < metrics_day * 11 / 10,
        "metrics: {metrics_day} bytes after a day, {metrics_days} after three"
    );
}

/// `State` with a time-travel checkpoint every `N` events, to test them on the fixture.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Every<const N: u64>(State);

impl<const N: u64> Projection for Every<N> {
    const NAME: &'static str = if N == 10 { "every10" } else { "every2" };
    const HISTORY_EVERY: u64 = N;

    fn apply(&mut self, event: &Event, meta: &EventMeta) -> Result<(), String> {
        self.0.apply(event, meta)
    }
}

fn history(log: &SharedLog, name: &str) -> Vec<u64> {
    crate::history::seqs(&log.snapshot(), name, crate::runner::CHECKPOINT_FORMAT).unwrap()
}

/// Time travel starts from the nearest checkpoint at or before the seq
/// asked for, folds at most `HISTORY_EVERY` events, and gives what a fold
/// from scratch gives.
#[test]
fn time_travel_starts_from_the_nearest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    let events = fixture();
    catch_up::<Every<10>>(&log).unwrap();
    assert_eq!(history(&log, "every10"), (1..=16).map(|i| i * 10).collect::<Vec<_>>());
    for seq in 1..=166 {
        let out = view_at::<Every<10>>(&log.snapshot(), seq).unwrap();
        let nearest = if seq == 166 { 166 } else { seq / 10 * 10 };
        assert_eq!((out.from_checkpoint, out.applied), (nearest, seq - nearest), "at {seq}");
        let fresh: State = given(&events[..seq as usize]);
        assert_eq!(out.projection.0, fresh, "at {seq}");
        let travelled = crate::travel::<Every<10>>(&log, seq).unwrap();
        assert_eq!(travelled.projection.0, fresh);
    }
    // Without its own checkpoint, catching up starts from the newest time-travel one.
    log.delete_checkpoint("every10").unwrap();
    let out = catch_up::<Every<10>>(&log).unwrap();
    assert_eq!((out.from_checkpoint, out.applied), (160, 6));
    assert_eq!(out.projection.0, given::<State>(&events));
    // A damaged time-travel checkpoint is folded past, not trusted.
    log.put_checkpoint("every10@80", b"{\"format\": 3, \"seq\": 80, \"state\": 17}").unwrap();
    let out = view_at::<Every<10>>(&log.snapshot(), 85).unwrap();
    assert_eq!(out.from_checkpoint, 0);
    assert_eq!(out.projection.0, given::<State>(&events[..85]));
}

/// Time travel stores the checkpoints it passes; replay stores them too.
#[test]
fn travel_and_replay_store_the_checkpoints_they_pass() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    assert!(view_at::<Every<10>>(&log.snapshot(), 100).is_ok());
    assert!(history(&log, "every10").is_empty(), "view_at stores nothing");
    let out = crate::travel::<Every<10>>(&log, 95).unwrap();
    assert_eq!(out.from_checkpoint, 0);
    assert_eq!(history(&log, "every10"), (1..=9).map(|i| i * 10).collect::<Vec<_>>());
    assert_eq!(log.snapshot().checkpoint("every10").unwrap(), None, "not the projection's own checkpoint");
    assert_eq!(view_at::<Every<10>>(&log.snapshot(), 95).unwrap().from_checkpoint, 90);
    crate::rebuild::<Every<10>>(&log, None).unwrap();
    assert_eq!(history(&log, "every10").len(), 16);
    // Both projections of a pair.
    crate::rebuild_pair::<Every<2>, Every<10>>(&log, None).unwrap();
    assert_eq!(history(&log, "every2").len(), crate::history::KEEP);
}

/// At most `KEEP` time-travel checkpoints are kept: the thinned ones are
/// deleted, the newest are all there, and time travel still gives what a
/// fold from scratch gives.
#[test]
fn time_travel_checkpoints_are_bounded() {
    use crate::history::{KEEP, RECENT, blob_name};
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    catch_up::<Every<2>>(&log).unwrap();
    let kept = history(&log, "every2");
    assert_eq!(kept.len(), KEEP);
    assert_eq!(
        kept[KEEP - RECENT..],
        (166 / 2 - RECENT as u64 + 1..=83).map(|i| i * 2).collect::<Vec<_>>()[..]
    );
    let snap = log.snapshot();
    for seq in (2..=166).step_by(2) {
        let stored = snap.checkpoint(&blob_name("every2", seq)).unwrap().is_some();
        assert_eq!(stored, kept.contains(&seq), "checkpoint at {seq}");
    }
    let events = fixture();
    for seq in [1, 7, 30, 31, 77, 120] {
        assert_eq!(
            view_at::<Every<2>>(&snap, seq).unwrap().projection.0,
            given::<State>(&events[..seq as usize])
        );
    }
}

/// Time-travel checkpoints of another format are dropped with their index.
#[test]
fn time_travel_checkpoints_of_another_format_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    log.put_checkpoint("every10@15", br#"{"format":2,"seq":15,"state":{}}"#).unwrap();
    log.put_checkpoint("every10@index", br#"{"format":2,"seqs":[15]}"#).unwrap();
    let out = view_at::<Every<10>>(&log.snapshot(), 20).unwrap();
    assert_eq!(out.from_checkpoint, 0, "the old index is not used");
    catch_up::<Every<10>>(&log).unwrap();
    assert_eq!(history(&log, "every10").len(), 16);
    assert_eq!(log.snapshot().checkpoint("every10@15").unwrap(), None, "deleted");
}

/// Checkpoints are this format's JSON; a damaged one is rebuilt.
#[test]
fn checkpoints_are_json_and_a_damaged_one_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    catch_up::<State>(&log).unwrap();
    let stored = log.snapshot().checkpoint("state").unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(
        (v["format"].as_u64(), v["seq"].as_u64()),
        (Some(u64::from(crate::runner::CHECKPOINT_FORMAT)), Some(166))
    );
    let mut damaged = stored.clone();
    damaged.truncate(stored.len() / 2);
    log.put_checkpoint("state", &damaged).unwrap();
    assert_eq!(catch_up::<State>(&log).unwrap().from_checkpoint, 0);
}

#[test]
fn fold_batch_over_a_follower_matches_the_catch_up_fold() {
    use crate::{ProjectionError, fold_batch};
    use orc_log_engine::{Batch, Filter};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_log(dir.path());
    let whole = rebuild::<Metrics>(&log, None).unwrap();
    // Half of it from a catch-up, the rest from a follower that starts
    // earlier: the events already folded are skipped, none is applied twice.
    let half = view_at::<Metrics>(&log.snapshot(), 100).unwrap();
    let (mut m, mut seq) = (half.projection, half.seq);
    let mut follower = log.follow(Filter { from_seq: 90, ..Filter::default() });
    let mut seen = Vec::new();
    while let Batch::Events(batch) = follower.next_batch(Duration::ZERO, 16).unwrap() {
        seq = fold_batch(&mut m, seq, &batch, |_, meta| {
            seen.push(meta.seq);
            Ok::<_, ProjectionError>(())
        })
        .unwrap();
    }
    assert_eq!(seq, whole.seq);
    assert_eq!(seen, (101..=whole.seq).collect::<Vec<_>>());
    assert_eq!(serde_json::to_string(&m).unwrap(), serde_json::to_string(&whole.projection).unwrap());
}

#[test]
fn a_metrics_checkpoint_from_before_a_kind_was_added_still_reads() {
    let metrics: Metrics = given(&fixture());
    let mut json: serde_json::Value = serde_json::to_value(&metrics).unwrap();
    let events = json["events"].as_array_mut().unwrap();
    assert!(events.iter().any(|n| n.as_u64() > Some(0)), "{events:?}");
    // As written by a binary that knew two kinds fewer (none of those events).
    events.truncate(events.len() - 2);
    let read: Metrics = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(read, metrics);
    json["events"].as_array_mut().unwrap().extend([0, 0, 0].map(serde_json::Value::from));
    assert!(serde_json::from_value::<Metrics>(json).is_err(), "more kinds than known is refused");
}

fn usage(ts: i64, target: Option<&str>, session: &str, model: &str, tokens: [u64; 4], cost: f64) -> Event {
    ev(
        ts,
        EventBody::AgentUsage {
            target: target.map(t),
            agent: "claude_code".into(),
            agent_session_id: Some(session.into()),
            source: "otel".into(),
            event: "claude_code.api_request".into(),
            model: Some(model.into()),
            prompt_id: None,
            input_tokens: tokens[0],
            output_tokens: tokens[1],
            cache_read_tokens: tokens[2],
            cache_creation_tokens: tokens[3],
            cost_usd: orc_log_schemas::Usd::from_dollars(cost),
            duration_ns: None,
            raw: None,
        },
    )
}

/// Usage lands on its pane: directly, through the session's start, or held
/// until a later start names the session's pane; "today" is the view's UTC day.
#[test]
fn agent_usage_adds_cost_and_tokens_per_pane_joined_by_session() {
    let day = 20_000 * 86_400;
    let s: State = given(&[
        usage(day - 10, None, "late", "m", [1, 2, 3, 4], 0.5),
        session(day, "s1", "start"),
        usage(day + 1, None, "s1", "m", [10, 20, 0, 0], 0.25),
        usage(day + 2, Some("p:1.0"), "other", "m", [1, 0, 0, 0], 0.125),
        ev(
            day + 3,
            EventBody::AgentSession {
                target: Some(t("p:2.0")),
                agent_session_id: "late".into(),
                phase: "start".into(),
                reason: None,
                cwd: None,
                transcript_path: None,
                raw: None,
            },
        ),
    ]);
    let view = s.view((day + 5) * SEC, 300);
    let u = pane(&view, "p:1.0").usage.as_ref().unwrap();
    assert_eq!((u.cost_usd.dollars(), u.tokens), (0.375, 31));
    assert_eq!((u.cost_today_usd.dollars(), u.tokens_today), (0.375, 31));
    let late = pane(&view, "p:2.0").usage.as_ref().unwrap();
    assert_eq!((late.cost_usd.dollars(), late.tokens), (0.5, 10), "held until its session's pane was known");
    assert_eq!(late.tokens_today, 0, "recorded the day before");
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["sessions"][0]["panes"][0]["usage"]["cost_usd"], 0.375);
    let tomorrow = s.view((day + 86_400) * SEC, 300);
    assert_eq!(pane(&tomorrow, "p:1.0").usage.as_ref().unwrap().cost_today_usd.dollars(), 0.0);
}

#[test]
fn agent_cost_and_token_counters_parse_with_a_prometheus_parser() {
    let m: Metrics = given(&[
        session(0, "s1", "start"),
        usage(1, None, "s1", "opus", [10, 20, 30, 40], 0.5),
        usage(2, None, "s1", "opus", [1, 1, 1, 1], 0.25),
        usage(3, None, "nobody", "haiku", [5, 0, 0, 0], 0.001),
    ]);
    let text = prometheus::render(&m.families(0));
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => v,
                ref other => panic!("{name} is not a counter: {other:?}"),
            })
    };
    let p = [("target", "p:1.0"), ("model", "opus")];
    assert_eq!(value("orc_log_agent_cost_usd_total", &p), Some(0.75));
    assert_eq!(value("orc_log_agent_tokens_total", &[p[0], p[1], ("type", "input")]), Some(11.0));
    assert_eq!(value("orc_log_agent_tokens_total", &[p[0], p[1], ("type", "cache_creation")]), Some(41.0));
    assert_eq!(value("orc_log_agent_cost_usd_total", &[("target", "-"), ("model", "haiku")]), Some(0.001));
}
