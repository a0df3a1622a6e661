//! The driver and the polling loop against a real, private tmux server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use orc_log_schemas::{Event, EventBody, Kind};
use orc_log_tmux::{End, Options, Recorder, Schedule, Server, Spawn, Tmux, record};
use std::time::{Duration, Instant};

fn server(name: &str) -> Server {
    let tmux = Tmux::private(format!("orc-log-tmux-test-{}-{name}", std::process::id()));
    Server::start(tmux, name, &Spawn::command("bash --norc --noprofile").named("main").size(100, 20))
        .expect("tmux must be installed for these tests (apt-get install tmux)")
}

/// Polls pane `target` until its text contains `needle` (at most 10 s).
fn wait_for(tmux: &Tmux, target: &str, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = tmux.capture_pane(target, 0).unwrap();
        if text.contains(needle) {
            return text;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{needle:?} not in {target}:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn lists_captures_types_and_resolves_panes() {
    let s = server("drv");
    s.new_window("drv", &Spawn::command("bash --norc --noprofile").named("second")).unwrap();
    s.split_window("drv:1", &Spawn::command("bash --norc --noprofile")).unwrap();
    assert!(s.has_session("drv").unwrap());
    assert!(!s.has_session("dr").unwrap(), "exact names only");
    let panes = s.list_panes().unwrap();
    let targets: Vec<String> = panes.iter().map(|p| p.target.to_string()).collect();
    assert_eq!(targets, ["drv:0.0", "drv:1.0", "drv:1.1"]);
    assert_eq!(panes[1].window_name, "second");
    assert_eq!((panes[0].width, panes[0].height), (100, 20));
    for p in &panes {
        assert_eq!(s.target_of_pane(&p.id).unwrap(), p.target);
    }
    assert!(s.target_of_pane("%999").is_err());

    s.send_keys("drv:1.1", "echo tab$'\\t'done-$((6*7))").unwrap();
    wait_for(&s, "drv:1.1", "done-42");
    let captures = s.capture_panes(&panes).unwrap();
    assert_eq!(captures.len(), 3);
    assert!(captures[2].as_deref().unwrap().contains("done-42"), "{captures:?}");
    assert!(!captures[0].as_deref().unwrap().contains("done-42"), "{captures:?}");

    // A pane that vanished is None; the others are still captured.
    let mut gone = panes.clone();
    gone.insert(1, orc_log_tmux::Pane { id: "%999".into(), ..panes[0].clone() });
    let captures = s.capture_panes(&gone).unwrap();
    assert!(captures[0].as_deref().is_some_and(|t| !t.is_empty()), "{captures:?}");
    assert!(captures[1].is_none(), "the vanished pane: {captures:?}");
    assert!(captures[2..].iter().all(Option::is_none), "tmux stops the chain: {captures:?}");

    let err = s.run(["no-such-command"]).unwrap_err().to_string();
    assert!(err.contains("no-such-command") && err.contains("-L orc-log-tmux-test-"), "{err}");
}

#[test]
fn the_loop_records_until_the_server_goes_away() {
    let s = server("rec");
    s.send_keys("rec:0", "echo secret AKIAIOSFODNN7EXAMPLE").unwrap();
    wait_for(&s, "rec:0", "secret");
    let tmux: Tmux = (*s).clone();
    let mut recorder = Recorder::new(Options::default());
    let mut events: Vec<Event> = Vec::new();
    let schedule = Schedule { interval: Duration::from_millis(100), duration: None };
    // A hang would be a bug: stop after 20 s whatever happens.
    let start = Instant::now();
    let give_up = || start.elapsed() > Duration::from_secs(20);
    let end = record(&tmux, &mut recorder, schedule, give_up, &mut |batch: Vec<Event>| {
        if events.is_empty() {
            tmux.kill_server()?;
        }
        events.extend(batch);
        Ok::<(), orc_log_tmux::Error>(())
    })
    .unwrap();
    assert_eq!(end, End::ServerGone);
    let kinds: Vec<Kind> = events.iter().map(Event::kind).collect();
    // The pane's state (directory, command, layout) comes before its first capture.
    assert_eq!(
        kinds[..4],
        [Kind::SessionOpened, Kind::WindowOpened, Kind::PaneState, Kind::Capture],
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&Kind::SessionClosed));
    let text: String = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Capture { content, .. } => Some(content.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        text.contains("[REDACTED:aws-access-key-id]") && !text.contains("AKIAIOSFODNN7EXAMPLE"),
        "{text}"
    );

    // Stopped by the caller, and by --duration.
    let none = Tmux::private(format!("orc-log-tmux-test-{}-none", std::process::id()));
    let mut sink = |_: Vec<Event>| Ok::<(), orc_log_tmux::Error>(());
    let mut r = Recorder::new(Options::default());
    assert_eq!(record(&none, &mut r, schedule, || true, &mut sink).unwrap(), End::Stopped);
    let t = server("dur");
    let timed = Schedule { interval: Duration::from_millis(50), duration: Some(Duration::from_millis(300)) };
    assert_eq!(record(&t, &mut r, timed, || false, &mut sink).unwrap(), End::Elapsed);
    assert!(r.stats().polls >= 3, "{:?}", r.stats());
}
