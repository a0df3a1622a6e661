//! `orc-log report`: a crashed pane as a self-contained HTML or Markdown file.

use crate::common::{assert_success, run, run_stdin, stdout, temp_db};
use serde_json::json;

/// A pane that builds, is messaged, calls a tool, shows a hostile screen
/// (`<script>`, an OSC title and an OSC 8 hyperlink, a secret), and crashes.
fn crashed_pane(db: &std::path::Path) {
    let t = |s: u32| format!("2026-11-20T10:{:02}:{:02}Z", s / 60, s % 60);
    let lines = [
        json!({"kind": "capture", "ts": t(0), "target": "team:0.1", "width": 80, "height": 24,
               "content": "$ python3 build.py\n\u{1b}[32mbuilding\u{1b}[0m <script>alert(1)</script>\u{1b}]0;evil title\u{7} \u{1b}]8;;http://evil.example/x\u{1b}\\click\u{1b}]8;;\u{1b}\\ token AKIAIOSFODNN7EXAMPLE pw hunter2"}),
        json!({"kind": "message", "ts": t(10), "from": "orchestrator", "to": "team:0.1", "text": "please fix the build"}),
        json!({"kind": "prompt", "ts": t(11), "target": "team:0.1", "agent_session_id": "s1", "text": "fix it"}),
        json!({"kind": "tool_call", "ts": t(12), "target": "team:0.1", "agent_session_id": "s1", "phase": "pre",
               "tool": "Bash", "tool_use_id": "u1", "input": "cargo build --release"}),
        json!({"kind": "tool_call", "ts": t(20), "target": "team:0.1", "agent_session_id": "s1", "phase": "post",
               "tool": "Bash", "tool_use_id": "u1", "response": "exit 101"}),
        json!({"kind": "message", "ts": t(25), "from": "team:0.1", "to": "team:0.0", "text": "not yet, it fails"}),
        json!({"kind": "capture", "ts": t(30), "target": "team:0.1", "width": 80, "height": 24,
               "content": "Traceback (most recent call last):\n  File \"build.py\"\nImportError: LAST LINE BEFORE CRASH\n$ "}),
        json!({"kind": "capture", "ts": t(30), "target": "team:0.0", "content": "another pane's screen"}),
        json!({"kind": "crash", "ts": t(31), "target": "team:0.1", "reason": "python traceback", "detector": "python-traceback",
               "excerpt": "ImportError: LAST LINE BEFORE CRASH"}),
        json!({"kind": "alert", "ts": t(32), "rule": "crash", "incident": "crash:team:0.1:9", "target": "team:0.1",
               "message": "team:0.1 crashed: python traceback"}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert_success(run_stdin(db, &["ingest"], text), "ingest");
}

/// Checks that every tag closes in order (void elements and the doctype
/// apart) and returns the tag names seen.
fn balanced_tags(html: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let end = rest[i..].find('>').map(|j| i + j).expect("a tag ends");
        let tag = &rest[i + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        let name: String =
            tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        assert!(!name.is_empty(), "a tag with no name: <{tag}>");
        seen.push(name.clone());
        if tag.starts_with('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "</{name}> closes what is open");
        } else if !["meta", "br"].contains(&name.as_str()) {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "left open: {stack:?}");
    seen
}

#[test]
fn report_of_a_crashed_pane_as_html_is_self_contained_and_inert() {
    let (_dir, db) = temp_db();
    crashed_pane(&db);
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("crash.html");
    let args = ["report", "team:0.1", "--output", file.to_str().unwrap(), "--redact-pattern", "hunter[0-9]"];
    assert_success(run(&db, &args), "report html");
    let html = std::fs::read_to_string(&file).unwrap();
    let tags = balanced_tags(&html);
    for allowed in &tags {
        assert!(
            [
                "html", "head", "meta", "title", "style", "body", "h1", "table", "tr", "th", "td", "code",
                "p", "div", "b", "pre", "span"
            ]
            .contains(&allowed.as_str()),
            "unexpected tag {allowed}"
        );
    }
    assert!(html.contains("ImportError: LAST LINE BEFORE CRASH"), "the output before the crash");
    for text in [
        "please fix the build",
        "not yet, it fails",
        "tool call Bash (pre)",
        "input: cargo build --release",
        "crash: python traceback",
        "team:0.1 crashed: python traceback",
        "the screen at the moment",
    ] {
        assert!(html.contains(text), "{text} missing");
    }
    assert!(!html.contains("another pane"), "only this pane's events");
    // Colours kept as spans; the hostile parts inert.
    assert!(html.contains("<span style=\"color:#00cd00\">building</span>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.to_lowercase().contains("<script"));
    assert!(!html.contains("http"), "no URL at all");
    assert!(!html.contains('\u{1b}') && !html.contains('\u{7}'), "no escape sequence");
    assert!(!html.contains("evil title"));
    // Redaction applied again, with the extra pattern.
    assert!(html.contains("[REDACTED:aws-access-key-id]") && html.contains("[REDACTED:pattern]"));
    assert!(!html.contains("AKIAIOSFODNN7EXAMPLE") && !html.contains("hunter2"));
    // The range's seqs and the chain hash after the last one, as `verify` reports the head's.
    assert!(html.contains("<th>seqs</th><td><code>1 to 10</code></td>"), "{html}");
    let verify = stdout(&run(&db, &["verify"]));
    let head_hash =
        html.split("chain hash after seq 10</th><td><code>").nth(1).unwrap().split('<').next().unwrap();
    assert_eq!(head_hash.len(), 64);
    assert!(verify.contains(head_hash), "{verify}");
}

#[test]
fn report_of_a_crashed_pane_as_markdown_keeps_markup_in_code_blocks() {
    let (_dir, db) = temp_db();
    crashed_pane(&db);
    let md = stdout(&assert_success(
        run(
            &db,
            &["report", "team:0.1", "--format", "md", "--around", "2026-11-20T10:00:31Z", "--before", "1m"],
        ),
        "report md",
    ));
    assert!(md.starts_with("# Pane team:0.1 around 2026-11-20T10:00:31Z"), "{md}");
    assert!(md.contains("ImportError: LAST LINE BEFORE CRASH"));
    for text in [
        "please fix the build",
        "not yet, it fails",
        "tool call Bash \\(post\\)",
        "response: exit 101",
        "seqs: 1 to 10",
    ] {
        assert!(md.contains(text), "{text} missing:\n{md}");
    }
    assert!(!md.contains('\u{1b}') && !md.contains("http") && !md.contains("AKIAIOSFODNN7EXAMPLE"));
    // Outside code blocks no markup at all; the capture's `<script>` is code.
    let mut fence: Option<String> = None;
    for line in md.lines() {
        let ticks: String = line.chars().take_while(|c| *c == '`').collect();
        match &fence {
            Some(f) if line == f.as_str() => fence = None,
            Some(_) => {}
            None if ticks.len() >= 3 => fence = Some(ticks),
            None => assert!(!line.contains('<'), "markup outside a code block: {line}"),
        }
    }
    assert!(md.contains("<script>alert(1)</script>"), "kept as text in a code block");
    // A seq as the moment, and a moment before anything of the pane.
    assert_success(
        run(&db, &["report", "team:0.1", "--format", "md", "--around", "9", "--before", "5s"]),
        "around seq",
    );
    let none = run(
        &db,
        &["report", "team:0.1", "--around", "2026-11-19T00:00:00Z", "--before", "1s", "--after", "1s"],
    );
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no event of team:0.1"), "{none:?}");
}
