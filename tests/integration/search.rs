//! `orc-log search` on a real recording: text printed once is one hit, and
//! the hit's replay command shows it.

use crate::common::{
    assert_success, bin_path, parse_ndjson, run, spawn_recorder, stderr, stdout, temp_db, tmux_server,
    wait_for_pane, wait_recorder,
};
use std::time::Duration;

#[test]
fn a_string_planted_once_is_one_hit_whose_replay_shows_it() {
    let (_dir, db) = temp_db();
    let tmux = tmux_server("work", 100, 20);
    let mut rec = spawn_recorder(&db, &tmux);
    std::thread::sleep(Duration::from_millis(800));
    // The command line holds `PLANTED-%s`, only the output the whole string.
    tmux.send_keys("work:0", "printf 'PLANTED-%s\\n' 7c1e9d").unwrap();
    wait_for_pane(&tmux, "work:0", "the planted line", |t| t.contains("PLANTED-7c1e9d"));
    std::thread::sleep(Duration::from_millis(700));
    // More output while the planted line stays on the screen.
    tmux.send_keys("work:0", "echo after-the-plant").unwrap();
    std::thread::sleep(Duration::from_millis(700));
    tmux.kill_server().unwrap();
    let (status, err) = wait_recorder(&mut rec);
    assert!(status.success(), "recorder failed: {err}");

    let captures = parse_ndjson(&stdout(&run(&db, &["tail", "--format", "json", "--kind", "capture"])));
    let showing =
        captures.iter().filter(|c| c["content"].as_str().unwrap().contains("PLANTED-7c1e9d")).count();
    assert!(showing >= 2, "the planted line stays on screen for several captures ({showing})");

    let out = assert_success(run(&db, &["search", "PLANTED-7c1e9d", "--format", "json"]), "search");
    let hits = parse_ndjson(&stdout(&out));
    assert_eq!(hits.len(), 1, "exactly one hit: {hits:?}");
    let hit = &hits[0];
    assert_eq!((hit["kind"].as_str(), hit["target"].as_str()), (Some("capture"), Some("work:0.0")));
    assert_eq!(hit["snippet"], "PLANTED-7c1e9d");
    // Text output: the hit line, then the replay command.
    let text = stdout(&assert_success(run(&db, &["search", "planted-7C1E9D", "-i"]), "search -i"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!("{} ", hit["seq"])) && lines[0].ends_with("capture: PLANTED-7c1e9d"),
        "{text}"
    );
    assert_eq!(lines[1].trim(), hit["replay"].as_str().unwrap());

    // The replay command, as printed, shows the pane from just before the hit.
    let words: Vec<&str> = hit["replay"].as_str().unwrap().split(' ').collect();
    assert_eq!(words[0], "orc-log");
    let replay = std::process::Command::new(bin_path()).args(&words[1..]).output().unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let frames = String::from_utf8_lossy(&replay.stdout).into_owned();
    let first = frames.split("\n--- ").next().unwrap();
    assert!(!first.contains("PLANTED-7c1e9d"), "the replay starts just before the hit:\n{frames}");
    assert!(frames.contains("PLANTED-7c1e9d"), "the replay shows the planted text:\n{frames}");

    // Nothing found: exit 1, as grep; a bad pattern: a clear error.
    let none = run(&db, &["search", "never-printed-anywhere"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("no match"), "{}", stderr(&none));
    let empty = run(&db, &["search", ""]);
    assert_eq!(empty.status.code(), Some(1));
    assert!(stderr(&empty).contains("1 to 1000 bytes"), "{}", stderr(&empty));
    // Messages are searched too.
    assert_success(
        run(
            &db,
            &["emit", "message", "--from", "pm", "--to", "work:0.0", "--text", "please PLANTED-7c1e9d again"],
        ),
        "emit",
    );
    let hits = parse_ndjson(&stdout(&run(&db, &["search", "PLANTED-7c1e9d", "--format", "json"])));
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[1]["kind"], "message");
    assert_eq!(hits[1]["snippet"], "please PLANTED-7c1e9d again");
}
