//! `orc-log resurrect`: rebuilds the recorded tmux sessions, windows and
//! panes, and relaunches each pane's Claude Code agent on its conversation.
//!
//! The layout comes from the `state` projection at `--at` (`state --at TIME
//! --format json`: each open pane's window name, working directory and its
//! window's layout, from `window_opened/renamed` and `pane_state` events);
//! the agent from the pane's last `agent_session` start (a hook
//! `SessionStart`) at or before that time. Everything is first turned into a
//! [`Plan`]: a list of tmux commands whose new panes are named by the pane id
//! tmux prints (`-P -F '#{pane_id}'`). The plan is run here, printed
//! (`--dry-run`) or printed as a shell script (`--dry-run --format sh`) that
//! runs exactly the same commands.

use crate::cmd::session::record::{log_output, read_log};
use anyhow::{Context, Result, bail};
use orc_log_schemas::{Event, EventBody, Target, format_rfc3339, now_ns};
use orc_log_tmux::{Socket, Tmux};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;

/// Rebuild the recorded tmux sessions, windows and panes (names, layouts,
/// working directories) and restart each Claude Code agent with
/// `claude --resume SESSION_ID`.
///
/// The team is the one the log shows at --at: every open pane of every
/// open session. Without --at it is the last recorded state or, when every
/// session is closed there (the tmux server went away), the state just
/// before the last `session_closed`. Panes are created in their
/// recorded working directory and addressed by the pane id tmux gives them;
/// each window gets its recorded layout last (`select-layout`). A pane whose
/// last hook `SessionStart` at or before --at names a session whose
/// transcript file exists runs the --agent-command as its command (then the
/// user's shell, so the pane stays when the agent exits); otherwise the
/// reason is printed and no agent started. Other programs are not
/// restarted: their pane shows its last recorded screen, then a shell.
///
/// A session that already exists is refused unless --merge (then only
/// missing windows and panes are created, so a second run creates nothing).
/// After a run one `resurrected` event records each pane's old and new
/// target.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Restore the team as it was at TIME (RFC 3339, a duration before now
    /// such as 10m, or now) [default: the last recorded state].
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    at: Option<i64>,
    /// tmux socket name (`tmux -L NAME`) to create the panes on [default: the default server].
    #[arg(long, value_name = "NAME")]
    tmux_socket: Option<String>,
    /// Only these sessions (repeatable) [default: all that were open].
    #[arg(long = "session", value_name = "S")]
    sessions: Vec<String>,
    /// Print the plan without touching tmux or the log.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: `plan` (for people) or `sh` (the tmux commands, a
    /// shell script that does what a run would, except the `resurrected` event).
    #[arg(long, value_enum, default_value_t = Format::Plan, requires = "dry_run")]
    format: Format,
    /// Add missing windows and panes to sessions that exist instead of refusing them.
    #[arg(long)]
    merge: bool,
    /// The command an agent's pane runs; `{session_id}` is replaced by the
    /// agent session id (shell-quoted when it needs to be).
    #[arg(long, default_value = "claude --resume {session_id}", value_name = "TEMPLATE")]
    agent_command: String,
}

/// How `--dry-run` prints the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One line per session, window and pane, with what happens to it.
    Plan,
    /// A POSIX shell script of tmux commands.
    Sh,
}

/// The parts of `state --format json` read here.
#[derive(Debug, Deserialize)]
struct StateJson {
    sessions: Vec<SessionJson>,
}

#[derive(Debug, Deserialize)]
struct SessionJson {
    name: String,
    open: bool,
    panes: Vec<PaneJson>,
}

#[derive(Debug, Deserialize)]
struct PaneJson {
    target: String,
    name: Option<String>,
    status: String,
    cwd: Option<String>,
    layout: Option<String>,
}

/// One recorded pane to rebuild.
#[derive(Debug, Clone)]
struct PaneSpec {
    target: Target,
    cwd: Option<String>,
    /// The agent command to run as the pane's command, or why none.
    agent: std::result::Result<String, String>,
    /// For a pane without an agent: its last capture at the chosen time
    /// (SGR colours kept, every other escape removed), shown in it.
    screen: Option<String>,
}

/// One recorded window.
#[derive(Debug, Clone)]
struct WindowSpec {
    session: String,
    index: u32,
    name: Option<String>,
    layout: Option<String>,
    panes: Vec<PaneSpec>,
}

/// One word of a planned tmux command: text, the id of a pane made
/// earlier in the plan (shell variable `$pN`), or the command of new pane
/// `n` that shows its recorded screen (plan `screens[n]`, written to a file
/// first) and then starts the user's shell.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    Lit(String),
    Pane(usize),
    ShowScreen(usize),
}

/// What runs after an agent, or after a shown screen, so that the pane
/// stays (as tmux-resurrect's `cat FILE; exec SHELL` pane contents restore).
const THEN_SHELL: &str = "exec \"${SHELL:-/bin/sh}\"";

/// One planned tmux command.
#[derive(Debug, Clone)]
enum Step {
    /// Runs tmux with these arguments; `Some(n)`: its output is the id of
    /// new pane `n` (the command has `-P -F '#{pane_id}'`).
    Run { args: Vec<Word>, makes: Option<usize> },
    /// Moves the window of pane `pane` to index `index` of `session`
    /// unless it already has that index (a new session's first window is
    /// at the server's `base-index`).
    MoveWindow { pane: usize, session: String, index: u32 },
}

/// What a run does: the tmux commands, which new pane is which old target,
/// and what is said about each pane.
#[derive(Debug, Default)]
struct Plan {
    steps: Vec<Step>,
    /// New pane number -> the recorded target it rebuilds.
    panes: Vec<Target>,
    /// One line per session, window and pane, for `--dry-run` and the report.
    lines: Vec<String>,
    /// New pane number -> the screen it shows ([`Word::ShowScreen`]).
    screens: BTreeMap<usize, String>,
    /// Sessions refused because they exist (without --merge).
    refused: Vec<String>,
}

fn lit(s: impl Into<String>) -> Word {
    Word::Lit(s.into())
}

/// `s` quoted for a POSIX shell when it needs to be.
fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%,+".contains(&b));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// The `WxH` of a layout string's outer cell (`csum,WxH,X,Y...`).
fn layout_size(layout: &str) -> Option<(u32, u32)> {
    let size = layout.split(',').nth(1)?;
    let (w, h) = size.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// The recorded windows at the chosen point, by session then window index.
fn recorded(state: StateJson, only: &[String]) -> Result<Vec<WindowSpec>> {
    let mut windows: BTreeMap<(String, u32), WindowSpec> = BTreeMap::new();
    for s in state.sessions.into_iter().filter(|s| s.open) {
        if !only.is_empty() && !only.contains(&s.name) {
            continue;
        }
        for p in s.panes.into_iter().filter(|p| p.status != "closed") {
            let target: Target =
                p.target.parse().with_context(|| format!("state gave target {:?}", p.target))?;
            let w = windows.entry((s.name.clone(), target.window)).or_insert_with(|| WindowSpec {
                session: s.name.clone(),
                index: target.window,
                name: p.name.clone(),
                layout: p.layout.clone(),
                panes: Vec::new(),
            });
            w.panes.push(PaneSpec { target, cwd: p.cwd, agent: Err(String::new()), screen: None });
        }
    }
    for w in windows.values_mut() {
        w.panes.sort_by_key(|p| p.target.pane);
    }
    for s in only {
        if !windows.keys().any(|(name, _)| name == s) {
            bail!("session {s:?} has no open pane in the log at that time");
        }
    }
    Ok(windows.into_values().collect())
}

/// The command for each pane's agent, or why none: the pane's last
/// `agent_session` start at or before `at_ns`, when its transcript exists.
fn agents(windows: &mut [WindowSpec], starts: &[Event], at_ns: i64, template: &str) {
    let mut last: BTreeMap<&Target, (&str, Option<&str>)> = BTreeMap::new();
    for ev in starts.iter().filter(|e| e.ts_ns <= at_ns) {
        if let EventBody::AgentSession { target: Some(t), agent_session_id, phase, transcript_path, .. } =
            &ev.body
            && phase == "start"
        {
            last.insert(t, (agent_session_id.as_str(), transcript_path.as_deref()));
        }
    }
    for p in windows.iter_mut().flat_map(|w| w.panes.iter_mut()) {
        p.agent = match last.get(&p.target) {
            None => Err("no agent session started in it".to_owned()),
            Some((id, None)) => Err(format!("agent session {id} has no transcript path recorded")),
            Some((id, Some(path))) if !Path::new(path).is_file() => {
                Err(format!("agent session {id}: its transcript {path} does not exist"))
            }
            Some((id, Some(_))) => Ok(template.replace("{session_id}", &sh_quote(id))),
        };
    }
}

/// What tmux has now: session -> window index -> pane count.
type Existing = BTreeMap<String, BTreeMap<u32, usize>>;

fn existing(tmux: &Tmux) -> Result<Existing> {
    let text = match tmux.run(["list-panes", "-a", "-F", "#{session_name}\t#{window_index}"]) {
        Ok(t) => t,
        Err(e) if e.is_no_server() => String::new(),
        Err(e) => return Err(e.into()),
    };
    let mut out = Existing::new();
    for line in text.lines() {
        if let Some((s, w)) = line.split_once('\t')
            && let Ok(w) = w.parse()
        {
            *out.entry(s.to_owned()).or_default().entry(w).or_default() += 1;
        }
    }
    Ok(out)
}

/// Turns the recorded windows into tmux commands against what exists.
fn plan(windows: &[WindowSpec], have: &Existing, merge: bool) -> Plan {
    let mut plan = Plan::default();
    let sessions: BTreeSet<&str> = windows.iter().map(|w| w.session.as_str()).collect();
    if !merge {
        plan.refused = sessions.iter().filter(|s| have.contains_key(**s)).map(|s| (*s).to_owned()).collect();
        if !plan.refused.is_empty() {
            return plan;
        }
    }
    let mut made_sessions: BTreeSet<String> = have.keys().cloned().collect();
    for w in windows {
        let have_panes = have.get(&w.session).and_then(|s| s.get(&w.index)).copied().unwrap_or(0);
        let wt = format!("{}:{}", w.session, w.index);
        let name = w.name.as_deref().unwrap_or("");
        if have_panes >= w.panes.len() {
            plan.lines
                .push(format!("window {wt} {name:?}: exists with {have_panes} panes, nothing to create"));
            continue;
        }
        let mut first: Option<usize> = None;
        let mut prev: Option<usize> = None;
        let created = if have_panes == 0 {
            plan.lines.push(format!("window {wt} {name:?}: create, {} panes", w.panes.len()));
            &w.panes[..]
        } else {
            plan.lines.push(format!(
                "window {wt} {name:?}: exists with {have_panes} panes, create {} more",
                w.panes.len() - have_panes
            ));
            &w.panes[have_panes..]
        };
        for (i, p) in created.iter().enumerate() {
            let n = plan.panes.len();
            plan.panes.push(p.target.clone());
            let mut args: Vec<Word> = Vec::new();
            if i == 0 && have_panes == 0 {
                if made_sessions.insert(w.session.clone()) {
                    args.extend(["new-session", "-d", "-s", w.session.as_str()].map(lit));
                    if let Some((x, y)) = w.layout.as_deref().and_then(layout_size) {
                        args.extend([lit("-x"), lit(x.to_string()), lit("-y"), lit(y.to_string())]);
                    }
                } else {
                    args.extend([lit("new-window"), lit("-d"), lit("-t"), lit(wt.clone())]);
                }
                if let Some(name) = &w.name {
                    args.extend([lit("-n"), lit(name.clone())]);
                }
            } else {
                let at = prev.map_or_else(|| lit(wt.clone()), Word::Pane);
                args.extend([lit("split-window"), lit("-d"), lit("-t"), at]);
            }
            if let Some(dir) = &p.cwd {
                args.extend([lit("-c"), lit(dir.clone())]);
            }
            args.extend([lit("-P"), lit("-F"), lit("#{pane_id}")]);
            // The pane's command: its agent, or its last screen, then a shell.
            match (&p.agent, &p.screen) {
                (Ok(command), _) => args.push(lit(format!("{command}; {THEN_SHELL}"))),
                (Err(_), Some(screen)) => {
                    plan.screens.insert(n, screen.clone());
                    args.push(Word::ShowScreen(n));
                }
                (Err(_), None) => {}
            }
            let new_session = matches!(&args[0], Word::Lit(c) if c == "new-session");
            plan.steps.push(Step::Run { args, makes: Some(n) });
            if new_session {
                plan.steps.push(Step::MoveWindow { pane: n, session: w.session.clone(), index: w.index });
            }
            first.get_or_insert(n);
            prev = Some(n);
            let dir = p.cwd.as_deref().unwrap_or("(tmux's default directory)");
            let shown = if p.screen.is_some() { ", its last screen shown" } else { "" };
            match &p.agent {
                Ok(command) => {
                    plan.lines.push(format!("  pane {} in {dir}: start agent: {command}", p.target))
                }
                Err(why) => {
                    plan.lines.push(format!("  pane {} in {dir}: no agent started ({why}){shown}", p.target))
                }
            }
        }
        if let (Some(layout), Some(first)) = (&w.layout, first) {
            plan.steps.push(Step::Run {
                args: vec![lit("select-layout"), lit("-t"), Word::Pane(first), lit(layout.clone())],
                makes: None,
            });
        }
    }
    plan
}

/// The plan as a POSIX shell script.
fn to_sh(plan: &Plan, socket: Option<&str>) -> String {
    let tmux = match socket {
        Some(name) => format!("tmux -L {}", sh_quote(name)),
        None => "tmux".to_owned(),
    };
    let word = |w: &Word| match w {
        Word::Lit(s) => sh_quote(s),
        Word::Pane(n) => format!("\"$p{n}\""),
        // `$screens` expands now, `${SHELL}` in the pane.
        Word::ShowScreen(n) => {
            format!(r#""cat \"$screens/p{n}\"; rm -f \"$screens/p{n}\"; exec \"\${{SHELL:-/bin/sh}}\"""#)
        }
    };
    let mut out = String::from("#!/bin/sh\n# orc-log resurrect --dry-run --format sh\nset -e\n");
    if !plan.screens.is_empty() {
        out.push_str("screens=$(mktemp -d \"${TMPDIR:-/tmp}/orc-log-resurrect.XXXXXX\")\n");
        for (n, screen) in &plan.screens {
            out.push_str(&format!("printf '%s\\n' {} > \"$screens/p{n}\"\n", sh_quote(screen)));
        }
    }
    for step in &plan.steps {
        match step {
            Step::Run { args, makes } => {
                let cmd = format!("{tmux} {}", args.iter().map(word).collect::<Vec<_>>().join(" "));
                match makes {
                    Some(n) => out.push_str(&format!("p{n}=$({cmd})\n")),
                    None => out.push_str(&format!("{cmd}\n")),
                }
            }
            Step::MoveWindow { pane, session, index } => out.push_str(&format!(
                "[ \"$({tmux} display-message -p -t \"$p{pane}\" '#{{window_index}}')\" = {index} ] || {tmux} move-window -s \"$p{pane}\" -t {}\n",
                sh_quote(&format!("{session}:{index}"))
            )),
        }
    }
    out
}

/// The command of a pane that shows the screen in `file` (and removes it),
/// then starts the user's shell.
fn show_screen(file: &Path) -> String {
    let f = sh_quote(&file.display().to_string());
    format!("cat {f}; rm -f {f}; {THEN_SHELL}")
}

/// Writes the plan's screens to files in a new private directory under
/// the temporary directory; returns it (empty path when there are none).
fn write_screens(plan: &Plan) -> Result<std::path::PathBuf> {
    if plan.screens.is_empty() {
        return Ok(std::path::PathBuf::new());
    }
    let dir = std::env::temp_dir().join(format!("orc-log-resurrect.{}.{}", std::process::id(), now_ns()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    for (n, screen) in &plan.screens {
        let file = dir.join(format!("p{n}"));
        std::fs::write(&file, format!("{screen}\n"))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(dir)
}

/// Runs the plan; returns the new pane ids, by new pane number.
fn execute(plan: &Plan, tmux: &Tmux) -> Result<Vec<String>> {
    let screens = write_screens(plan)?;
    let mut ids: Vec<String> = Vec::new();
    let id = |ids: &[String], n: usize| ids.get(n).cloned().context("internal: pane used before it was made");
    for step in &plan.steps {
        match step {
            Step::Run { args, makes } => {
                let args: Vec<String> = args
                    .iter()
                    .map(|w| match w {
                        Word::Lit(s) => Ok(s.clone()),
                        Word::Pane(n) => id(&ids, *n),
                        Word::ShowScreen(n) => Ok(show_screen(&screens.join(format!("p{n}")))),
                    })
                    .collect::<Result<_>>()?;
                let out = tmux.run(&args)?;
                if makes.is_some() {
                    ids.push(out.trim().to_owned());
                }
            }
            Step::MoveWindow { pane, session, index } => {
                let p = id(&ids, *pane)?;
                let now = tmux.display_message(Some(p.as_str()), "#{window_index}")?;
                if now.trim() != index.to_string() {
                    tmux.run(["move-window", "-s", p.as_str(), "-t", format!("{session}:{index}").as_str()])?;
                }
            }
        }
    }
    Ok(ids)
}

/// `state --format json [--at TIME]` through the server or the database.
fn read_state(appender: &mut orc_log_server::Appender, at: Option<i64>) -> Result<StateJson> {
    let mut args: Vec<String> = ["state", "--format", "json"].map(str::to_owned).into();
    if let Some(at) = at {
        args.extend(["--at".to_owned(), format_rfc3339(at)]);
    }
    serde_json::from_str(&log_output(appender, args)?).context("cannot read the state projection")
}

/// Runs `orc-log resurrect`.
pub fn run(db_dir: &Path, args: Args) -> Result<u8> {
    let mut appender = crate::db::appender(db_dir)?;
    let mut state = read_state(&mut appender, args.at)?;
    let mut at_ns = args.at.unwrap_or_else(now_ns);
    // Without --at, a team whose tmux server went away (every session
    // closed) is restored as it was just before the last session closed.
    if args.at.is_none() && !state.sessions.iter().any(|s| s.open) {
        let closed =
            read_log(&mut appender, ["--kind", "session_closed", "-n", "1"].map(str::to_owned).into())?;
        if let Some(last) = closed.last() {
            at_ns = last.ts_ns - 1;
            state = read_state(&mut appender, Some(at_ns))?;
        }
    }
    let mut windows = recorded(state, &args.sessions)?;
    if windows.is_empty() {
        bail!("the log holds no open pane to resurrect at that time");
    }
    let starts = read_log(&mut appender, ["--kind", "agent_session"].map(str::to_owned).into())?;
    agents(&mut windows, &starts, at_ns, &args.agent_command);
    for p in windows.iter_mut().flat_map(|w| w.panes.iter_mut()).filter(|p| p.agent.is_err()) {
        let last = ["--kind", "capture", "-n", "1", "--until", &format_rfc3339(at_ns), "--target"]
            .map(str::to_owned)
            .into_iter()
            .chain([p.target.to_string()])
            .collect();
        p.screen = read_log(&mut appender, last)?.pop().and_then(|ev| match ev.body {
            EventBody::Capture { content, .. } => {
                let screen = orc_log_projections::ansi::strip(&content);
                let screen = screen.trim_end();
                (!screen.is_empty()).then(|| screen.to_owned())
            }
            _ => None,
        });
    }
    let tmux = Tmux::new(args.tmux_socket.clone().map_or(Socket::Default, Socket::Name));
    let have = existing(&tmux)?;
    let plan = plan(&windows, &have, args.merge);
    if !plan.refused.is_empty() {
        bail!(
            "session(s) {} exist already: nothing was created (--merge adds only the missing windows and panes)",
            plan.refused.join(", ")
        );
    }
    if args.dry_run {
        match args.format {
            Format::Plan => {
                for line in &plan.lines {
                    println!("{line}");
                }
            }
            Format::Sh => print!("{}", to_sh(&plan, args.tmux_socket.as_deref())),
        }
        return Ok(0);
    }
    for line in &plan.lines {
        println!("{line}");
    }
    if plan.panes.is_empty() {
        println!("nothing to create");
        return Ok(0);
    }
    let ids = execute(&plan, &tmux)?;
    let mut targets = Vec::new();
    for (old, id) in plan.panes.iter().zip(&ids) {
        let new = tmux.target_of_pane(id)?;
        targets.push(format!("{old} {new}"));
    }
    let event = Event {
        ts_ns: now_ns(),
        id: None,
        body: EventBody::Resurrected {
            targets: targets.join("\n"),
            at: Some(format_rfc3339(at_ns)),
            socket: args.tmux_socket.clone(),
        },
    };
    appender.append(vec![event]).context("cannot append the resurrected event")?;
    println!("resurrected {} panes", ids.len());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(session: &str, index: u32, dirs: &[&str]) -> WindowSpec {
        WindowSpec {
            session: session.into(),
            index,
            name: Some(format!("w{index}")),
            layout: Some("abcd,120x40,0,0,1".into()),
            panes: dirs
                .iter()
                .enumerate()
                .map(|(i, d)| PaneSpec {
                    target: Target::new(session, index, i as u32).unwrap(),
                    cwd: Some((*d).into()),
                    agent: if i == 0 { Ok("claude --resume abc".into()) } else { Err("none".into()) },
                    screen: (i == 1).then(|| "it's \u{1b}[31mred\u{1b}[0m".to_owned()),
                })
                .collect(),
        }
    }

    #[test]
    fn a_new_session_is_made_then_split_then_laid_out() {
        let windows = [window("s", 0, &["/a", "/b c"]), window("s", 2, &["/d"])];
        let plan = plan(&windows, &Existing::new(), false);
        assert_eq!(plan.panes.len(), 3);
        let sh = to_sh(&plan, Some("sock"));
        let lines: Vec<&str> = sh.lines().skip(3).collect();
        assert_eq!(
            lines,
            [
                "screens=$(mktemp -d \"${TMPDIR:-/tmp}/orc-log-resurrect.XXXXXX\")",
                "printf '%s\\n' 'it'\\''s \u{1b}[31mred\u{1b}[0m' > \"$screens/p1\"",
                "p0=$(tmux -L sock new-session -d -s s -x 120 -y 40 -n w0 -c /a -P -F '#{pane_id}' 'claude --resume abc; exec \"${SHELL:-/bin/sh}\"')",
                "[ \"$(tmux -L sock display-message -p -t \"$p0\" '#{window_index}')\" = 0 ] || tmux -L sock move-window -s \"$p0\" -t s:0",
                "p1=$(tmux -L sock split-window -d -t \"$p0\" -c '/b c' -P -F '#{pane_id}' \"cat \\\"$screens/p1\\\"; rm -f \\\"$screens/p1\\\"; exec \\\"\\${SHELL:-/bin/sh}\\\"\")",
                "tmux -L sock select-layout -t \"$p0\" abcd,120x40,0,0,1",
                "p2=$(tmux -L sock new-window -d -t s:2 -n w2 -c /d -P -F '#{pane_id}' 'claude --resume abc; exec \"${SHELL:-/bin/sh}\"')",
                "tmux -L sock select-layout -t \"$p2\" abcd,120x40,0,0,1",
            ]
        );
        assert!(
            plan.lines.iter().any(|l| l.ends_with("no agent started (none), its last screen shown")),
            "{:?}",
            plan.lines
        );
        assert!(
            plan.lines.iter().any(|l| l.contains("pane s:0.1 in /b c: no agent started (none)")),
            "{:?}",
            plan.lines
        );
    }

    #[test]
    fn an_existing_session_is_refused_or_merged() {
        let windows = [window("s", 0, &["/a", "/b"]), window("s", 1, &["/c"])];
        let have: Existing = [("s".to_owned(), [(0, 1)].into())].into();
        assert_eq!(plan(&windows, &have, false).refused, ["s"]);
        let merged = plan(&windows, &have, true);
        let made: Vec<String> = merged.panes.iter().map(Target::to_string).collect();
        assert_eq!(made, ["s:0.1", "s:1.0"]);
        let sh = to_sh(&merged, None);
        assert!(sh.contains("p0=$(tmux split-window -d -t s:0 -c /b"), "{sh}");
        assert!(sh.contains("p1=$(tmux new-window -d -t s:1 -n w1 -c /c"), "{sh}");
        assert!(!sh.contains("new-session"), "{sh}");
        let full: Existing = [("s".to_owned(), [(0, 2), (1, 1)].into())].into();
        let again = plan(&windows, &full, true);
        assert!(again.steps.is_empty() && again.panes.is_empty());
    }

    #[test]
    fn the_last_session_start_with_a_transcript_counts() {
        let dir = tempfile::tempdir().unwrap();
        let transcript = dir.path().join("new.jsonl");
        std::fs::write(&transcript, "{}\n").unwrap();
        let t = Target::new("s", 0, 0).unwrap();
        let start = |ts: i64, id: &str, path: &Path| Event {
            ts_ns: ts,
            id: None,
            body: EventBody::AgentSession {
                target: Some(t.clone()),
                agent_session_id: id.into(),
                phase: "start".into(),
                reason: None,
                cwd: None,
                transcript_path: Some(path.display().to_string()),
                raw: None,
            },
        };
        let starts = [start(10, "old", &dir.path().join("missing.jsonl")), start(20, "new", &transcript)];
        let mut w = [window("s", 0, &["/a"])];
        agents(&mut w, &starts, 30, "claude --resume {session_id}");
        assert_eq!(w[0].panes[0].agent, Ok("claude --resume new".to_owned()));
        agents(&mut w, &starts, 15, "claude --resume {session_id}");
        let why = w[0].panes[0].agent.clone().unwrap_err();
        assert!(why.contains("old") && why.contains("does not exist"), "{why}");
        agents(&mut w, &starts, 5, "x {session_id}");
        assert_eq!(w[0].panes[0].agent, Err("no agent session started in it".to_owned()));
    }

    #[test]
    fn layout_sizes_and_quoting() {
        assert_eq!(layout_size("b25d,80x24,0,0,0"), Some((80, 24)));
        assert_eq!(layout_size("bad"), None);
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("/a/b-c"), "/a/b-c");
    }
}
