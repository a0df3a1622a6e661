//! One way to run tmux(1): [`Tmux`] names a server and runs tmux client
//! commands against it, blocking (`std::process::Command`), one process per
//! call.
//!
//! Every command runs as `tmux -u [-L NAME | -S PATH] [-f /dev/null] ...`:
//! `-u` because without it, under `LANG=C`, tmux prints tabs (the
//! `list-panes` field separator) and any non-ASCII text as `_`; `-f
//! /dev/null` for isolated servers (tests, the demo), so the user's
//! `~/.tmux.conf` never changes what they see. [`Server`] is a server this
//! process started, killed when dropped.

use orc_log_schemas::Target;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// Which tmux server to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socket {
    /// The default server: the one in `$TMUX` inside tmux, else socket
    /// `default` in `$TMUX_TMPDIR` (or `/tmp`)/`tmux-UID/`.
    Default,
    /// A socket name in tmux's socket directory: `tmux -L NAME`.
    Name(String),
    /// A socket path: `tmux -S PATH`.
    Path(PathBuf),
}

/// A tmux command that did not do what was asked. Every variant names the
/// command line (`tmux -u -L NAME list-panes ...`, long batches shortened).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// tmux could not be started (usually: not installed).
    #[error("cannot run `{command}` (is tmux installed? e.g. `apt-get install tmux`)")]
    Spawn {
        /// The command line.
        command: String,
        /// Why the process could not start.
        #[source]
        source: std::io::Error,
    },
    /// No server answers on the socket (never started, or gone).
    #[error("no tmux server answers `{command}`: {stderr}")]
    NoServer {
        /// The command line.
        command: String,
        /// What tmux printed on stderr.
        stderr: String,
    },
    /// tmux ran and failed (e.g. `can't find pane`).
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status, as `exit status: N` or the signal that ended it.
        status: String,
        /// What tmux printed on stderr.
        stderr: String,
    },
    /// A session asked for by name does not exist on the server.
    #[error("no tmux session named {session:?} on `{server}` (its sessions: {existing})")]
    NoSession {
        /// The session asked for.
        session: String,
        /// The server's command line (`tmux -u -L NAME`).
        server: String,
        /// The sessions that do exist, comma separated.
        existing: String,
    },
    /// tmux succeeded but printed something this crate cannot read.
    #[error("`{command}` printed unexpected output: {detail}")]
    Output {
        /// The command line.
        command: String,
        /// What was wrong, with the text.
        detail: String,
    },
}

impl Error {
    /// Whether this error means that no server answers (see
    /// [`Error::NoServer`]).
    pub fn is_no_server(&self) -> bool {
        matches!(self, Self::NoServer { .. })
    }
}

/// One pane as `list-panes` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pane {
    /// `session:window.pane` (window and pane indexes as tmux numbers them).
    pub target: Target,
    /// tmux's unique pane id, e.g. `%3` (what `$TMUX_PANE` holds).
    pub id: String,
    /// The name of the pane's window (may hold any character, tabs too).
    pub window_name: String,
    /// Width in cells.
    pub width: u32,
    /// Height in cells.
    pub height: u32,
    /// Cursor column, from 0.
    pub cursor_x: u32,
    /// Cursor row, from 0.
    pub cursor_y: u32,
    /// The pane's foreground command (`#{pane_current_command}`, e.g. `bash`).
    pub command: String,
    /// The process id of the program the pane was started with
    /// (`#{pane_pid}`, usually its shell); 0 when tmux gave none.
    pub pid: u32,
    /// The pane's working directory (`#{pane_current_path}`); empty when
    /// tmux does not know it.
    pub cwd: String,
    /// The layout string of the pane's window (`#{window_layout}`), as
    /// `select-layout` takes it.
    pub layout: String,
}

/// The `list-panes -F` format [`parse_panes`] reads: tab-separated, the
/// window name last (it may hold tabs).
pub const LIST_FORMAT: &str = "#{session_name}\t#{window_index}\t#{pane_index}\t#{pane_id}\t#{pane_width}\t#{pane_height}\t#{cursor_x}\t#{cursor_y}\t#{pane_current_command}\t#{pane_pid}\t#{window_layout}\t#{pane_current_path}\t#{window_name}";

/// Parses `list-panes -F` output in [`LIST_FORMAT`], one pane per line;
/// lines that do not fit are skipped.
pub fn parse_panes(text: &str) -> Vec<Pane> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.splitn(13, '\t').collect();
            if f.len() != 13 {
                return None;
            }
            let n = |s: &str| s.parse::<u32>().ok();
            Some(Pane {
                target: Target::new(f[0], n(f[1])?, n(f[2])?).ok()?,
                id: f[3].to_owned(),
                width: n(f[4])?,
                height: n(f[5])?,
                cursor_x: n(f[6])?,
                cursor_y: n(f[7])?,
                command: f[8].to_owned(),
                pid: n(f[9]).unwrap_or(0),
                layout: f[10].to_owned(),
                cwd: f[11].to_owned(),
                window_name: f[12].to_owned(),
            })
        })
        .collect()
}

/// What a new session, window or pane runs, and how it looks. The default
/// is tmux's: the default shell, an automatic name, the server's size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spawn {
    /// Shell command to run (`sh -c` style, as tmux runs it).
    pub command: Option<String>,
    /// Window name (`-n`; sessions and windows only).
    pub window_name: Option<String>,
    /// Working directory (`-c`).
    pub cwd: Option<PathBuf>,
    /// Width and height in cells (`-x`, `-y`; new sessions only).
    pub size: Option<(u32, u32)>,
}

impl Spawn {
    /// Runs `command` (a shell command line).
    pub fn command(command: impl Into<String>) -> Self {
        Self { command: Some(command.into()), ..Self::default() }
    }

    /// With window name `name`.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.window_name = Some(name.into());
        self
    }

    /// In directory `dir`.
    #[must_use]
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// `width` x `height` cells (new sessions only).
    #[must_use]
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = Some((width, height));
        self
    }

    /// The options for `new-session`/`new-window`/`split-window`, the
    /// command last.
    fn args(&self, window: bool, size: bool) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let (true, Some(name)) = (window, &self.window_name) {
            args.extend(["-n".into(), name.into()]);
        }
        if let Some(dir) = &self.cwd {
            args.extend(["-c".into(), dir.into()]);
        }
        if let (true, Some((w, h))) = (size, self.size) {
            args.extend(["-x".into(), w.to_string().into(), "-y".into(), h.to_string().into()]);
        }
        if let Some(command) = &self.command {
            args.push(command.into());
        }
        args
    }
}

/// A tmux server to run commands against. Cheap to clone; holds no
/// process or connection (each call runs one tmux client process).
#[derive(Debug, Clone)]
pub struct Tmux {
    socket: Socket,
    isolated: bool,
    /// Environment changes for every tmux process: set (`Some`) or removed.
    env: Vec<(OsString, Option<OsString>)>,
}

/// Distinguishes the markers of batched captures within one process.
static BATCHES: AtomicU64 = AtomicU64::new(0);

impl Tmux {
    /// The server on `socket`, with the user's configuration and environment.
    pub fn new(socket: Socket) -> Self {
        Self { socket, isolated: false, env: Vec::new() }
    }

    /// The default server (see [`Socket::Default`]).
    pub fn default_server() -> Self {
        Self::new(Socket::Default)
    }

    /// The server on socket name `name` (`tmux -L NAME`).
    pub fn named(name: impl Into<String>) -> Self {
        Self::new(Socket::Name(name.into()))
    }

    /// A private server on socket name `name`, [isolated](Self::isolated):
    /// what tests and the demo start.
    pub fn private(name: impl Into<String>) -> Self {
        Self::named(name).isolated()
    }

    /// Without the user's configuration (`-f /dev/null`, which matters when
    /// a command starts the server) and without `$TMUX`/`$TMUX_PANE`, so an
    /// enclosing tmux session changes nothing.
    #[must_use]
    pub fn isolated(mut self) -> Self {
        self.isolated = true;
        self.env.push(("TMUX".into(), None));
        self.env.push(("TMUX_PANE".into(), None));
        self
    }

    /// Sets `key=value` in the environment of every tmux process (a server
    /// started by a command inherits it, and so do its panes).
    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes `key` from the environment of every tmux process.
    #[must_use]
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// The server's socket.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The socket name (`-L NAME`), when the server is named.
    pub fn socket_name(&self) -> Option<&str> {
        match &self.socket {
            Socket::Name(name) => Some(name),
            _ => None,
        }
    }

    /// `tmux -u [-L NAME | -S PATH] [-f /dev/null]` with this server's
    /// environment and stdin from `/dev/null`, ready for a tmux command.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(self.base_args()).stdin(Stdio::null());
        for (key, value) in &self.env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        cmd
    }

    fn base_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["-u".into()];
        match &self.socket {
            Socket::Default => {}
            Socket::Name(name) => args.extend(["-L".into(), name.into()]),
            Socket::Path(path) => args.extend(["-S".into(), path.into()]),
        }
        if self.isolated {
            args.extend(["-f".into(), "/dev/null".into()]);
        }
        args
    }

    /// The command line for error messages; a long batch is shortened.
    fn describe(&self, args: &[OsString]) -> String {
        const SHOWN: usize = 12;
        let mut words: Vec<String> = std::iter::once("tmux".to_owned())
            .chain(self.base_args().iter().chain(args.iter().take(SHOWN)).map(|a| a.to_string_lossy().into()))
            .collect();
        if args.len() > SHOWN {
            words.push(format!("... ({} more arguments)", args.len() - SHOWN));
        }
        words.join(" ")
    }

    /// Runs tmux with `args`; its output whatever the exit status, and the
    /// command line.
    fn output(&self, args: &[OsString]) -> Result<(Output, String), Error> {
        let command = self.describe(args);
        match self.command().args(args).output() {
            Ok(out) => Ok((out, command)),
            Err(source) => Err(Error::Spawn { command, source }),
        }
    }

    /// Runs `tmux ARGS...` (one command, or several joined with `;`
    /// arguments); its stdout (lossy UTF-8).
    ///
    /// # Errors
    /// [`Error::Spawn`] when tmux cannot run, [`Error::NoServer`] when no
    /// server answers, [`Error::Failed`] for any other non-zero exit.
    pub fn run<I, S>(&self, args: I) -> Result<String, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let (out, command) = self.output(&args)?;
        check(&out, command)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Every pane of every session (`list-panes -a -F` [`LIST_FORMAT`]), in
    /// tmux's order.
    ///
    /// # Errors
    /// As [`Tmux::run`]; [`Error::NoServer`] when the server is gone.
    pub fn list_panes(&self) -> Result<Vec<Pane>, Error> {
        Ok(parse_panes(&self.run(["list-panes", "-a", "-F", LIST_FORMAT])?))
    }

    /// Captures many panes with one tmux process: for each pane
    /// `display-message -p MARKER ; capture-pane -p -e -J -t ID`, chained
    /// with `;`, and the output split on the markers (unique per call). The
    /// text keeps SGR escapes (`-e`) and joins wrapped lines (`-J`).
    ///
    /// Returns one entry per pane, in order: `None` for a pane that vanished
    /// meanwhile. tmux stops a chain at the first failing command; the panes
    /// from there on are `None`, and so is the last pane whose marker was
    /// printed (its capture may be the one that failed).
    ///
    /// # Errors
    /// [`Error::Spawn`], or [`Error::NoServer`] when the server is gone.
    pub fn capture_panes(&self, panes: &[Pane]) -> Result<Vec<Option<String>>, Error> {
        if panes.is_empty() {
            return Ok(Vec::new());
        }
        let nonce = format!(
            "{:x}-{:x}-{}",
            orc_log_schemas::now_ns(),
            std::process::id(),
            BATCHES.fetch_add(1, Ordering::Relaxed)
        );
        let mut args: Vec<OsString> = Vec::new();
        for (i, p) in panes.iter().enumerate() {
            if i > 0 {
                args.push(";".into());
            }
            let mark = marker(&nonce, i);
            for a in [
                "display-message",
                "-p",
                "-t",
                &p.id,
                &mark,
                ";",
                "capture-pane",
                "-p",
                "-e",
                "-J",
                "-t",
                &p.id,
            ] {
                args.push(a.into());
            }
        }
        let (out, command) = self.output(&args)?;
        let failed = match check(&out, command) {
            Ok(()) => false,
            Err(e @ Error::NoServer { .. }) => return Err(e),
            Err(_) => true,
        };
        Ok(split_captures(&String::from_utf8_lossy(&out.stdout), &nonce, panes.len(), failed))
    }

    /// The text of one pane (`capture-pane -p -J`: wrapped lines joined, no
    /// escapes), with `history_lines` lines of scrollback above the visible
    /// screen (0: the screen only).
    ///
    /// # Errors
    /// As [`Tmux::run`] (e.g. [`Error::Failed`] for an unknown target).
    pub fn capture_pane(&self, target: &str, history_lines: u32) -> Result<String, Error> {
        let start = format!("-{history_lines}");
        let mut args = vec!["capture-pane", "-p", "-J", "-t", target];
        if history_lines > 0 {
            args.extend(["-S", &start]);
        }
        self.run(args)
    }

    /// Types `text` into pane `target` literally (`send-keys -l`: key names
    /// such as `Enter` are not interpreted), without pressing Enter.
    ///
    /// # Errors
    /// As [`Tmux::run`].
    pub fn send_text(&self, target: &str, text: &str) -> Result<(), Error> {
        self.run(["send-keys", "-t", target, "-l", text]).map(drop)
    }

    /// Types `text` into pane `target` literally, then presses Enter (two
    /// `send-keys`, as `scripts/send-claude-message.sh` does).
    ///
    /// # Errors
    /// As [`Tmux::run`].
    pub fn send_keys(&self, target: &str, text: &str) -> Result<(), Error> {
        self.send_text(target, text)?;
        self.run(["send-keys", "-t", target, "Enter"]).map(drop)
    }

    /// Starts detached session `session` (`new-session -d -s`), starting
    /// the server when none runs.
    ///
    /// # Errors
    /// As [`Tmux::run`] (e.g. the session exists).
    pub fn new_session(&self, session: &str, spawn: &Spawn) -> Result<(), Error> {
        let mut args: Vec<OsString> = vec!["new-session".into(), "-d".into(), "-s".into(), session.into()];
        args.extend(spawn.args(true, true));
        self.run(args).map(drop)
    }

    /// Opens a window without selecting it (`new-window -d -t TARGET`):
    /// `target` is a session (next free index) or `session:index`.
    ///
    /// # Errors
    /// As [`Tmux::run`].
    pub fn new_window(&self, target: &str, spawn: &Spawn) -> Result<(), Error> {
        let mut args: Vec<OsString> = vec!["new-window".into(), "-d".into(), "-t".into(), target.into()];
        args.extend(spawn.args(true, false));
        self.run(args).map(drop)
    }

    /// Splits pane `target` top/bottom (`split-window -d -v`), the new pane
    /// below.
    ///
    /// # Errors
    /// As [`Tmux::run`] (e.g. no space left for a pane).
    pub fn split_window(&self, target: &str, spawn: &Spawn) -> Result<(), Error> {
        let mut args: Vec<OsString> =
            vec!["split-window".into(), "-d".into(), "-v".into(), "-t".into(), target.into()];
        args.extend(spawn.args(false, false));
        self.run(args).map(drop)
    }

    /// Whether session `session` exists (`has-session -t =NAME`, an exact
    /// match); `false` when no server runs.
    ///
    /// # Errors
    /// [`Error::Spawn`] when tmux cannot run.
    pub fn has_session(&self, session: &str) -> Result<bool, Error> {
        let args: Vec<OsString> = vec!["has-session".into(), "-t".into(), format!("={session}").into()];
        let (out, _) = self.output(&args)?;
        Ok(out.status.success())
    }

    /// Checks, before recording, that a server answers on the socket and
    /// that each of `sessions` exists there (exact names), so a mistyped
    /// `--tmux-socket` or `--session` is an error rather than an empty
    /// recording.
    ///
    /// # Errors
    /// [`Error::NoServer`] (its command line names the socket) when no
    /// server answers; [`Error::NoSession`] for the first missing session;
    /// otherwise as [`Tmux::run`].
    pub fn check_sessions<S: AsRef<str>>(&self, sessions: &[S]) -> Result<(), Error> {
        let text = self.run(["list-sessions", "-F", "#{session_name}"])?;
        let existing: Vec<&str> = text.lines().collect();
        match sessions.iter().map(AsRef::as_ref).find(|s| !existing.contains(s)) {
            None => Ok(()),
            Some(missing) => Err(Error::NoSession {
                session: missing.to_owned(),
                server: self.describe(&[]),
                existing: existing.join(", "),
            }),
        }
    }

    /// Whether a server answers on the socket (`list-sessions` succeeds).
    pub fn is_running(&self) -> bool {
        self.run(["list-sessions"]).is_ok()
    }

    /// Stops the server and every pane in it (`kill-server`).
    ///
    /// # Errors
    /// As [`Tmux::run`]; [`Error::NoServer`] when none ran.
    pub fn kill_server(&self) -> Result<(), Error> {
        self.run(["kill-server"]).map(drop)
    }

    /// Expands a tmux format (`display-message -p FORMAT`, e.g. `#{pid}`,
    /// `#{socket_path}`) for pane `target`, or for the current one when
    /// `None`; the text without its final newline.
    ///
    /// # Errors
    /// As [`Tmux::run`].
    pub fn display_message(&self, target: Option<&str>, format: &str) -> Result<String, Error> {
        let mut args = vec!["display-message", "-p"];
        if let Some(t) = target {
            args.extend(["-t", t]);
        }
        args.push(format);
        let mut text = self.run(args)?;
        if text.ends_with('\n') {
            text.pop();
        }
        Ok(text)
    }

    /// The `session:window.pane` of the pane with id `pane_id` (e.g. `%3`,
    /// what `$TMUX_PANE` holds).
    ///
    /// # Errors
    /// As [`Tmux::run`] ([`Error::Failed`] for an unknown pane), or
    /// [`Error::Output`] when tmux's answer is not a target.
    pub fn target_of_pane(&self, pane_id: &str) -> Result<Target, Error> {
        const FORMAT: &str = "#{session_name}\t#{window_index}\t#{pane_index}";
        let text = self.display_message(Some(pane_id), FORMAT)?;
        let parsed = text.rsplitn(3, '\t').collect::<Vec<_>>();
        let target = match parsed[..] {
            [pane, window, session] => match (window.parse(), pane.parse()) {
                (Ok(w), Ok(p)) => Target::new(session, w, p).ok(),
                _ => None,
            },
            _ => None,
        };
        target.ok_or_else(|| Error::Output {
            command: self.describe(&["display-message".into(), "-p".into(), "-t".into(), pane_id.into()]),
            detail: format!("{text:?} is not session<TAB>window<TAB>pane"),
        })
    }
}

/// tmux's version (`tmux -V`, e.g. `tmux 3.4`): whether tmux is installed.
///
/// # Errors
/// [`Error::Spawn`] when tmux is not installed, [`Error::Failed`] when it
/// does not run.
pub fn version() -> Result<String, Error> {
    let command = "tmux -V".to_owned();
    let out = Command::new("tmux")
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn { command: command.clone(), source })?;
    check(&out, command)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Ok for a zero exit; else the error, told apart by what tmux printed.
fn check(out: &Output, command: String) -> Result<(), Error> {
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let gone = ["no server running", "error connecting", "No such file", "server exited", "lost server"];
    if gone.iter().any(|g| stderr.contains(g)) {
        return Err(Error::NoServer { command, stderr });
    }
    Err(Error::Failed { command, status: out.status.to_string(), stderr })
}

fn marker(nonce: &str, i: usize) -> String {
    format!("@@orc-log-capture-{nonce}-{i}@@")
}

/// Splits batched capture output into each pane's text, by marker; when the
/// batch `failed`, the last pane whose marker was printed is dropped.
fn split_captures(out: &str, nonce: &str, count: usize, failed: bool) -> Vec<Option<String>> {
    let mut result = vec![None; count];
    let mut positions: Vec<(usize, usize, usize)> = Vec::new();
    for i in 0..count {
        let m = format!("{}\n", marker(nonce, i));
        if let Some(at) = out.find(&m) {
            positions.push((at, at + m.len(), i));
        }
    }
    positions.sort_unstable();
    let keep = positions.len() - usize::from(failed && !positions.is_empty());
    for (k, (_, start, i)) in positions.iter().enumerate().take(keep) {
        let end = positions.get(k + 1).map_or(out.len(), |p| p.0);
        result[*i] = Some(out[*start..end].to_owned());
    }
    result
}

/// A tmux server this process started, killed (and its socket file
/// removed) when dropped unless [kept](Server::keep). Derefs to its
/// [`Tmux`].
#[derive(Debug)]
pub struct Server {
    tmux: Tmux,
    keep: bool,
    /// The socket file, which `kill-server` leaves behind.
    socket_path: Option<PathBuf>,
}

impl Server {
    /// Starts the server `tmux` names with detached session `session` (see
    /// [`Tmux::new_session`]).
    ///
    /// # Errors
    /// As [`Tmux::new_session`] (e.g. [`Error::Spawn`] without tmux).
    pub fn start(tmux: Tmux, session: &str, spawn: &Spawn) -> Result<Self, Error> {
        tmux.new_session(session, spawn)?;
        let mut server = Self { tmux, keep: false, socket_path: None };
        let path = server.tmux.display_message(None, "#{socket_path}")?;
        server.socket_path = Some(PathBuf::from(path)).filter(|p| p.is_absolute());
        Ok(server)
    }

    /// Leaves the server running when dropped (`true`), or not.
    pub fn keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// The server's socket file, when tmux reported an absolute one.
    pub fn socket_path(&self) -> Option<&Path> {
        self.socket_path.as_deref()
    }
}

impl std::ops::Deref for Server {
    type Target = Tmux;

    fn deref(&self) -> &Tmux {
        &self.tmux
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = self.tmux.kill_server();
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_panes_lines() {
        let panes = parse_panes(
            "proj\t1\t0\t%3\t160\t48\t10\t2\tbash\t4242\tb25d,80x24,0,0,0\t/tmp/a b\teng\tx\nbad line\n",
        );
        assert_eq!(panes.len(), 1);
        assert_eq!(panes[0].target.to_string(), "proj:1.0");
        assert_eq!(panes[0].id, "%3");
        assert_eq!(panes[0].window_name, "eng\tx");
        assert_eq!((panes[0].width, panes[0].height, panes[0].cursor_x, panes[0].cursor_y), (160, 48, 10, 2));
        assert_eq!(panes[0].command, "bash");
        assert_eq!((panes[0].pid, panes[0].layout.as_str()), (4242, "b25d,80x24,0,0,0"));
        assert_eq!(panes[0].cwd, "/tmp/a b");
    }

    #[test]
    fn splits_batched_captures_by_marker() {
        let out =
            format!("{}\nline a\n\n{}\nline b\n{}\nhalf\n", marker("n", 0), marker("n", 1), marker("n", 2));
        let parts = split_captures(&out, "n", 4, false);
        assert_eq!(parts[0].as_deref(), Some("line a\n\n"));
        assert_eq!(parts[1].as_deref(), Some("line b\n"));
        assert_eq!(parts[2].as_deref(), Some("half\n"));
        assert_eq!(parts[3], None);
        // A failed batch: the last marked pane may be the one that failed.
        let parts = split_captures(&out, "n", 4, true);
        assert_eq!(parts[1].as_deref(), Some("line b\n"));
        assert_eq!(parts[2], None);
    }

    #[test]
    fn commands_name_the_server_and_shorten_batches() {
        let tmux = Tmux::private("x");
        let args: Vec<OsString> = (0..20).map(|i| i.to_string().into()).collect();
        let text = tmux.describe(&args);
        assert!(text.starts_with("tmux -u -L x -f /dev/null 0 1 2"), "{text}");
        assert!(text.ends_with("... (8 more arguments)"), "{text}");
        assert_eq!(Tmux::default_server().describe(&["kill-server".into()]), "tmux -u kill-server");
    }

    #[test]
    fn spawn_options_come_before_the_command() {
        let spawn = Spawn::command("bash").named("eng").in_dir("/tmp").size(80, 24);
        let args: Vec<String> = spawn.args(true, true).iter().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(args, ["-n", "eng", "-c", "/tmp", "-x", "80", "-y", "24", "bash"]);
        assert!(Spawn::default().args(true, true).is_empty());
    }

    #[test]
    fn no_server_is_told_apart() {
        let tmux = Tmux::private(format!("orc-log-tmux-unit-none-{}", std::process::id()));
        match tmux.list_panes() {
            Err(e) => assert!(e.is_no_server(), "{e}"),
            Ok(p) => panic!("a server answered: {p:?}"),
        }
        assert!(!tmux.is_running());
        assert!(!tmux.has_session("x").unwrap());
    }
}
