//! `orc-log alerts` and alert rules in `orc-log serve`: a crash typed into the
//! orchestrator's pane, idle and overdue rules, a webhook, a command; each
//! incident alerted once, also across a server restart.

use crate::common::*;
use crate::server::{signal, wait_exit};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Starts `orc-log serve --alerts RULES` and waits for its socket.
fn serve_with(db: &Path, rules: &Path) -> Child {
    serve_with_stderr(db, rules, Stdio::null())
}

/// [`serve_with`], its stderr going to `stderr`.
fn serve_with_stderr(db: &Path, rules: &Path, stderr: impl Into<Stdio>) -> Child {
    let child = orc_process(db)
        .args(["serve", "--alerts"])
        .arg(rules)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while UnixStream::connect(db.join("serve.sock")).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn emit(db: &Path, args: &[&str]) {
    let mut all = vec!["emit"];
    all.extend_from_slice(args);
    assert_success(run(db, &all), &format!("emit {args:?}"));
}

fn alerts(db: &Path) -> Vec<Value> {
    tail_json(db).into_iter().filter(|e| e["kind"] == "alert").collect()
}

/// Polls the log until `ok` holds for its alerts, for at most `wait`.
fn wait_alerts(db: &Path, wait: Duration, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let a = alerts(db);
        if ok(&a) {
            return a;
        }
        assert!(Instant::now() < deadline, "{what} within {wait:?}; alerts: {a:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn crash_rule_types_into_the_orchestrator_pane_once() {
    let server = tmux_server("orc", 160, 30);
    let (tmp, db) = temp_db();
    let rules = tmp.path().join("alerts.toml");
    std::fs::write(
        &rules,
        format!(
            "tmux_socket = \"{}\"\n[[rule]]\nname = \"engineer-crashed\"\nwhen = \"crash\"\ntarget = \"team:*\"\n\
             [rule.action]\ntmux = \"orc:0.0\"\nmessage = \"ALERT {{target}} crashed: {{reason}}\"\n",
            socket_of(&server)
        ),
    )
    .unwrap();
    assert_success(run(&db, &["alerts", "check", "--rules", rules.to_str().unwrap()]), "alerts check");
    let mut serve = serve_with(&db, &rules);
    emit(&db, &["crash", "--target", "team:1.0", "--reason", "segfault"]);
    let t0 = Instant::now();
    wait_for_pane(&server, "orc:0.0", "the alert text", |t| t.contains("ALERT team:1.0 crashed: segfault"));
    assert!(t0.elapsed() < Duration::from_secs(2), "typed after {:?}", t0.elapsed());

    let a = wait_alerts(&db, Duration::from_secs(5), "one alert", |a| !a.is_empty());
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0]["rule"], "engineer-crashed");
    assert_eq!(a[0]["incident"], "crash:team:1.0:1");
    assert_eq!(a[0]["target"], "team:1.0");
    assert_eq!(a[0]["actions"], "tmux orc:0.0 ok");
    let events = tail_json(&db);
    let msgs = of_kind(&events, "message");
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    assert_eq!(msgs[0]["from"], "orc-log-alerts");
    assert_eq!(msgs[0]["to"], "orc:0.0");

    // Later events and ticks: the same incident does not fire again, also after a restart.
    emit(&db, &["marker", "--label", "later"]);
    std::thread::sleep(Duration::from_millis(2500));
    signal(&serve, "TERM");
    assert!(wait_exit(&mut serve).success());
    let mut serve = serve_with(&db, &rules);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(alerts(&db).len(), 1, "fired again: {:#?}", alerts(&db));
    // `alerts test` agrees: nothing would fire.
    let out =
        assert_success(run(&db, &["alerts", "test", "--rules", rules.to_str().unwrap()]), "alerts test");
    assert!(stdout(&out).contains(": 0 would fire"), "{}", describe(&out));
    signal(&serve, "TERM");
    assert!(wait_exit(&mut serve).success());
}

/// A one-request-at-a-time HTTP server recording request bodies.
fn http_recorder() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            seen.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

#[test]
fn idle_overdue_webhook_and_command_rules_fire_once_each() {
    let (tmp, db) = temp_db();
    let (url, bodies) = http_recorder();
    let env_file = tmp.path().join("env.txt");
    let rules = tmp.path().join("alerts.toml");
    std::fs::write(
        &rules,
        format!(
            "[[rule]]\nname = \"idle\"\nwhen = \"idle\"\nfor = \"1s\"\ntarget = \"team:2.0\"\n[rule.action]\nwebhook = \"{url}\"\n\n\
             [[rule]]\nname = \"late\"\nwhen = \"overdue\"\nby = \"1s\"\n[rule.action]\n\
             command = \"env | grep ^ORC_LOG_ | sort >> '{}'\"\n",
            env_file.display()
        ),
    )
    .unwrap();
    let mut serve = serve_with(&db, &rules);
    assert_success(run_stdin(&db, &["emit", "capture", "--target", "team:2.0"], "working"), "emit capture");
    let due = orc_log_schemas::format_rfc3339(orc_log_schemas::now_ns() + 500_000_000);
    emit(&db, &["schedule", "--target", "team:3.0", "--note", "check tests", "--due", &due]);
    let a = wait_alerts(&db, Duration::from_secs(10), "an idle and an overdue alert", |a| a.len() >= 2);
    std::thread::sleep(Duration::from_millis(2500));
    let a2 = alerts(&db);
    assert_eq!(a2.len(), 2, "each fires once: {a2:#?}");
    let by_rule =
        |r: &str| a.iter().find(|e| e["rule"] == r).unwrap_or_else(|| panic!("no {r} alert: {a:#?}"));
    let idle = by_rule("idle");
    assert!(idle["incident"].as_str().unwrap().starts_with("idle:team:2.0:"), "{idle}");
    assert_eq!(idle["actions"], "webhook 200");
    let late = by_rule("late");
    assert_eq!(late["incident"], "overdue:2");
    assert_eq!(late["actions"], "command exit 0");

    let posted = bodies.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let body: Value = serde_json::from_str(&posted[0]).unwrap();
    assert_eq!(body["rule"], "idle");
    assert_eq!(body["target"], "team:2.0");
    assert_eq!(body["incident"], idle["incident"]);

    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(env.contains("ORC_LOG_RULE=late\n"), "{env}");
    assert!(env.contains("ORC_LOG_TARGET=team:3.0\n"), "{env}");
    assert!(env.contains("ORC_LOG_INCIDENT=overdue:2\n"), "{env}");
    assert!(env.contains("ORC_LOG_SEQ=2\n"), "{env}");
    assert!(env.contains("ORC_LOG_MESSAGE=orc-log alert late: check-in for team:3.0 overdue"), "{env}");
    assert!(env.contains("ORC_LOG_TS=20"), "{env}");
    signal(&serve, "TERM");
    assert!(wait_exit(&mut serve).success());
}

#[test]
fn bad_rule_files_are_refused_with_file_line_and_value() {
    let (tmp, db) = temp_db();
    let rules = tmp.path().join("alerts.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"i\"\nwhen = \"idle\"\nfor = \"ten minutes\"\n[rule.action]\ncommand = \"true\"\n",
    )
    .unwrap();
    let path = rules.to_str().unwrap();
    let out = run(&db, &["alerts", "check", "--rules", path]);
    assert_exit(&out, 1, "alerts check of a bad file");
    assert!(
        stderr(&out).contains(&format!("{path}:4:")) && stderr(&out).contains("\"ten minutes\""),
        "{}",
        describe(&out)
    );
    let out = run(&db, &["serve", "--alerts", path]);
    assert_exit(&out, 1, "serve with a bad rule file");
    assert!(stderr(&out).contains(&format!("{path}:4:")), "{}", describe(&out));
    // `alerts test` on a log: a crash would fire, and nothing is appended.
    std::fs::write(&rules, "[[rule]]\nname = \"c\"\nwhen = \"crash\"\n[rule.action]\ncommand = \"true\"\n")
        .unwrap();
    emit(&db, &["crash", "--target", "a:1.0", "--reason", "boom"]);
    let out = assert_success(run(&db, &["alerts", "test", "--rules", path]), "alerts test");
    assert!(
        stdout(&out).contains(": 1 would fire") && stdout(&out).contains("crash:a:1.0:1"),
        "{}",
        describe(&out)
    );
    assert_eq!(tail_json(&db).len(), 1, "alerts test appends nothing");
}

/// The example rule file at the end of `alerts --help`, as printed.
fn example_from_help(db: &Path) -> String {
    let out = assert_success(run(db, &["alerts", "--help"]), "alerts --help");
    let help = stdout(&out);
    let (_, example) =
        help.split_once("Example rule file").unwrap_or_else(|| panic!("no example in:\n{help}"));
    let (_, example) = example.split_once("\n\n").unwrap();
    example.to_owned()
}

#[test]
fn the_example_in_alerts_help_is_a_valid_rule_file() {
    let (tmp, db) = temp_db();
    let example = example_from_help(&db);
    assert!(example.contains("[[rule]]\nname = \"engineer-crashed\"\n"), "printed as written:\n{example}");
    let rules = tmp.path().join("example.toml");
    std::fs::write(&rules, &example).unwrap();
    let out =
        assert_success(run(&db, &["alerts", "check", "--rules", rules.to_str().unwrap()]), "check example");
    assert!(stdout(&out).contains("ok: 5 rules"), "{}", describe(&out));
    for rule in [
        "engineer-crashed: crash on team:*",
        "agent-idle: idle for 10m",
        "check-in-overdue: overdue by 5m",
        "agent-spending: agent cost over $5 within 1h",
        "resume-limited: rate limited (grace 2m) on * -> resume \"continue\"",
    ] {
        assert!(stdout(&out).contains(rule), "{rule}: {}", describe(&out));
    }
}

/// Writes NDJSON `lines` to a file and ingests it.
fn ingest(db: &Path, dir: &Path, lines: &[String]) {
    let file = dir.join("events.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    assert_success(run(db, &["ingest", file.to_str().unwrap()]), "ingest");
}

#[test]
fn alerts_test_lists_incidents_held_by_a_cooldown_with_when_they_fire() {
    let (tmp, db) = temp_db();
    let alerted = from_now(-90);
    ingest(
        &db,
        tmp.path(),
        &[
            format!(r#"{{"kind":"capture","ts":"{}","target":"a:1.0","content":"x"}}"#, from_now(-120)),
            format!(r#"{{"kind":"crash","ts":"{}","target":"a:1.0","reason":"first"}}"#, from_now(-100)),
            format!(
                r#"{{"kind":"alert","ts":"{alerted}","rule":"c","incident":"crash:a:1.0:2","target":"a:1.0","message":"m"}}"#
            ),
            format!(r#"{{"kind":"capture","ts":"{}","target":"a:1.0","content":"y"}}"#, from_now(-80)),
            format!(r#"{{"kind":"crash","ts":"{}","target":"a:1.0","reason":"second"}}"#, from_now(-60)),
        ],
    );
    let rules = tmp.path().join("alerts.toml");
    std::fs::write(&rules, "[[rule]]\nname = \"c\"\nwhen = \"crash\"\n[rule.action]\ncommand = \"true\"\n")
        .unwrap();
    let out =
        assert_success(run(&db, &["alerts", "test", "--rules", rules.to_str().unwrap()]), "alerts test");
    let text = stdout(&out);
    assert!(text.contains(": 0 would fire"), "{}", describe(&out));
    assert!(text.contains("1 held by a cool-down"), "{}", describe(&out));
    assert!(text.contains("crash:a:1.0:5"), "the second crash is held: {}", describe(&out));
    let fires_at = orc_log_schemas::format_rfc3339(
        orc_log_schemas::parse_rfc3339(&alerted).unwrap() + 600 * 1_000_000_000,
    );
    assert!(text.contains(&fires_at), "fires at the alert's time + the 10m cool-down ({fires_at}): {text}");
}

#[test]
fn first_serve_on_an_existing_log_fires_nothing_that_began_before_its_start() {
    let (tmp, db) = temp_db();
    ingest(
        &db,
        tmp.path(),
        &[
            format!(r#"{{"kind":"crash","ts":"{}","target":"team:1.0","reason":"old"}}"#, from_now(-3600)),
            format!(
                r#"{{"kind":"schedule","ts":"{}","target":"team:2.0","note":"check","due":"{}"}}"#,
                from_now(-3600),
                from_now(-1800)
            ),
        ],
    );
    let rules = tmp.path().join("alerts.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"c\"\nwhen = \"crash\"\n[rule.action]\ncommand = \"true\"\n\n\
         [[rule]]\nname = \"late\"\nwhen = \"overdue\"\nby = \"1m\"\n[rule.action]\ncommand = \"true\"\n",
    )
    .unwrap();
    let err_file = tmp.path().join("serve.err");
    let mut serve = serve_with_stderr(&db, &rules, std::fs::File::create(&err_file).unwrap());
    // A crash after the start fires; the two older incidents do not.
    emit(&db, &["crash", "--target", "team:3.0", "--reason", "new"]);
    let a = wait_alerts(&db, Duration::from_secs(5), "the new crash's alert", |a| !a.is_empty());
    std::thread::sleep(Duration::from_millis(1500));
    let a2 = alerts(&db);
    assert_eq!(a2.len(), 1, "only the new crash: {a2:#?}");
    assert_eq!(a[0]["target"], "team:3.0");
    signal(&serve, "TERM");
    assert!(wait_exit(&mut serve).success());
    let err = std::fs::read_to_string(&err_file).unwrap();
    let line = err
        .lines()
        .find(|l| l.contains("2 incident(s) began before this start"))
        .unwrap_or_else(|| panic!("serve did not say so:\n{err}"));
    // It says how to see them, and that command lists them.
    let since = line.split("alerts test --since ").nth(1).unwrap().trim_end_matches('`');
    let out = assert_success(
        run(&db, &["alerts", "test", "--rules", rules.to_str().unwrap(), "--since", since]),
        "alerts test --since",
    );
    assert!(
        stdout(&out).contains(": 2 would fire")
            && stdout(&out).contains("crash:team:1.0:1")
            && stdout(&out).contains("overdue:2"),
        "{}",
        describe(&out)
    );
    // A later --since leaves them out, and says so.
    let out = assert_success(
        run(&db, &["alerts", "test", "--rules", rules.to_str().unwrap(), "--since", &from_now(-60)]),
        "alerts test --since a minute ago",
    );
    assert!(stdout(&out).contains(": 0 would fire"), "{}", describe(&out));
    assert!(stdout(&out).contains("2 began before --since"), "{}", describe(&out));
}

/// A pane showing Claude Code's usage-limit banner turns `rate_limited`
/// with the reset time the banner names; a `rate_limited` rule with
/// `resume` types `continue` into it exactly once after the reset (plus
/// grace): not again at later polls, nor after the server restarts.
#[test]
fn a_rate_limited_pane_is_resumed_once_after_its_reset() {
    let tmux = tmux_server("lim", 120, 20);
    let (_tmp, db) = temp_db();
    let typed = db.parent().unwrap().join("typed.txt");
    // The older banner form carries the reset time as Unix seconds: a few seconds from now.
    let reset_secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 4;
    tmux.send_keys(
        "lim:0.0",
        &format!("printf 'Claude AI usage limit reached|%s\\n' {reset_secs}; cat > {}", typed.display()),
    )
    .unwrap();
    wait_for_pane(&tmux, "lim:0.0", "the banner", |t| t.contains("usage limit reached|"));
    let rules = db.parent().unwrap().join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            "tmux_socket = \"{}\"\n[[rule]]\nname = \"resume-limited\"\nwhen = \"rate_limited\"\ngrace = \"1s\"\n\
             [rule.action]\nresume = true\n",
            socket_of(&tmux)
        ),
    )
    .unwrap();
    let mut server = serve_with(&db, &rules);
    let mut recorder = spawn_recorder(&db, &tmux);
    // The pane turns rate_limited with the banner's reset time.
    let want_reset = orc_log_schemas::format_rfc3339(reset_secs as i64 * 1_000_000_000);
    let deadline = Instant::now() + Duration::from_secs(20);
    let limited = loop {
        let state: Value =
            serde_json::from_str(&stdout(&assert_success(run(&db, &["state", "--format", "json"]), "state")))
                .unwrap();
        let pane = state["sessions"][0]["panes"][0].clone();
        if pane["status"] == "rate_limited" {
            break pane;
        }
        assert!(Instant::now() < deadline, "the pane did not turn rate_limited: {state:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(limited["rate_limit"]["resets_at"], want_reset.as_str(), "{limited:#}");
    let sql = stdout(&assert_success(
        run(&db, &["query", "SELECT target, event FROM agent_hooks", "--format", "csv"]),
        "agent_hooks",
    ));
    assert!(sql.contains("lim:0.0,RateLimited"), "{sql}");
    // Typed once after the reset + grace.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&typed).unwrap_or_default().is_empty() {
        assert!(Instant::now() < deadline, "nothing was typed after the reset");
        std::thread::sleep(Duration::from_millis(100));
    }
    let resumed_at = Instant::now();
    assert!(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() > reset_secs,
        "typed before the reset time"
    );
    // More polls (the banner is still on screen), then a server restart.
    std::thread::sleep(Duration::from_secs(3));
    signal(&server, "TERM");
    wait_exit(&mut server);
    let mut server = serve_with(&db, &rules);
    std::thread::sleep(Duration::from_secs(3));
    assert!(resumed_at.elapsed() >= Duration::from_secs(6));
    assert_eq!(std::fs::read_to_string(&typed).unwrap(), "continue\n", "typed exactly once");
    let events = tail_json(&db);
    let messages: Vec<&Value> =
        events.iter().filter(|e| e["kind"] == "message" && e["from"] == "orc-log-alerts").collect();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(
        (messages[0]["to"].as_str(), messages[0]["text"].as_str()),
        (Some("lim:0.0"), Some("continue"))
    );
    let resumes: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["kind"] == "alert" && e["incident"].as_str().is_some_and(|i| i.starts_with("resume:lim:0.0:"))
        })
        .collect();
    assert_eq!(resumes.len(), 1, "{resumes:#?}");
    assert!(resumes[0]["actions"].as_str().unwrap().contains("resume: tmux lim:0.0 ok"), "{resumes:#?}");
    signal(&server, "TERM");
    wait_exit(&mut server);
    drop(tmux);
    let _ = wait_recorder(&mut recorder);
}
