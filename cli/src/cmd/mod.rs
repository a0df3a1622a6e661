//! One module per subcommand: its clap `Args` and its `run`.

pub mod alerts;
pub mod backup;
pub mod checkpoint;
pub mod compact;
pub mod demo;
pub mod emit;
pub mod export;
pub mod hook;
pub mod hook_install;
pub mod import;
pub mod ingest;
pub mod mcp;
pub mod metrics;
pub mod point;
pub mod query;
pub mod redact;
pub mod replay;
pub mod report;
pub mod restore;
pub mod resurrect;
pub mod retention;
pub mod seal;
pub mod search;
pub mod serve;
pub mod session;
pub mod state;
pub mod stats;
pub mod tail;
pub mod verify;

use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};

/// clap value parser of every time flag (`--since`, `--until`, `--at`):
/// UTC nanoseconds from an RFC 3339 time, a duration before now with a unit
/// (`10m`, `2h`, `1d`, `90s`, the syntax of [`parse_duration`]) or `now`
/// ([`orc_log_schemas::parse_time_spec`]). A relative time is resolved once,
/// when the command line is parsed.
///
/// # Errors
/// A message naming the value and the three accepted forms.
pub fn parse_time(s: &str) -> Result<i64> {
    orc_log_schemas::parse_time_spec(s, orc_log_schemas::now_ns()).map_err(|e| anyhow!(e))
}

/// clap value parser of every duration flag (`--in`, `--interval`,
/// `--timeout`, `--lock-timeout`, ...): a number with a unit, humantime
/// syntax (`500ms`, `90s`, `5m`, `1h30m`, `1.5h`). A bare number is refused:
/// `10` could mean seconds or minutes.
///
/// # Errors
/// A message with an example, for clap to show next to the value.
pub fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{e}; a duration needs a unit, e.g. 500ms, 90s, 5m, 1h30m"))
}

/// clap value parser of `--kind`: one event kind by name (with
/// `value_delimiter = ','`, `--kind message,schedule` gives two, as
/// `/api/events?kind=` takes them).
///
/// # Errors
/// An unknown name, with the list of kinds.
pub fn parse_kind(s: &str) -> std::result::Result<orc_log_schemas::Kind, String> {
    use orc_log_schemas::Kind;
    Kind::from_name(s.trim()).ok_or_else(|| {
        let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown kind {s:?}; kinds: {}", all.join(", "))
    })
}

/// The file an `--output` names, or `None` for standard output (no
/// `--output`, or `--output -`).
pub fn output_file(output: Option<&Path>) -> Option<&Path> {
    output.filter(|p| p.as_os_str() != "-")
}

/// A writer that remembers whether a write failed because the reader went
/// away (`orc-log query ... | head -1`), for output code whose errors keep
/// only the message: [`PipeWatch::closed`] then says to end quietly.
pub struct PipeWatch<'a> {
    inner: &'a mut dyn std::io::Write,
    closed: bool,
}

impl<'a> PipeWatch<'a> {
    /// Watches writes to `inner`.
    pub fn new(inner: &'a mut dyn std::io::Write) -> Self {
        Self { inner, closed: false }
    }

    /// Whether a write or flush failed with a broken pipe.
    pub fn closed(&self) -> bool {
        self.closed
    }

    fn note<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.closed = true;
        }
        r
    }
}

impl std::io::Write for PipeWatch<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}

/// The error that ends a command quietly with exit 0 when its output was
/// closed (see `app::is_broken_pipe`).
pub fn closed_pipe() -> anyhow::Error {
    anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
}

/// Set by SIGINT, SIGTERM or SIGHUP once [`catch_interrupts`] ran.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on, SIGINT (Ctrl-C), SIGTERM and SIGHUP no longer end the
/// process but set a flag that [`interrupted`] reads, so a long command can
/// clean up (restore the screen, stop its tmux server) and exit itself.
/// Calling it again is a no-op.
///
/// # Errors
/// When the handler cannot be installed (the signals then keep their default
/// action).
pub fn catch_interrupts() -> Result<()> {
    static INSTALLED: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst))
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow!("cannot catch Ctrl-C: {e}"))
}

/// Whether SIGINT, SIGTERM or SIGHUP arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// A file or directory being written next to its destination under a hidden
/// temporary name (`.NAME.tmp-PID`): removed when dropped, unless
/// [`Staged::commit`] made it durable and renamed it into place. So the
/// destination never exists half-written.
pub struct Staged {
    /// The temporary path.
    pub path: PathBuf,
    done: bool,
}

impl Staged {
    /// The temporary path for `dest`.
    fn path_for(dest: &Path) -> Result<PathBuf> {
        let name = dest.file_name().with_context(|| format!("{} is not a file name", dest.display()))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        Ok(dest.with_file_name(tmp_name))
    }

    /// Creates a temporary file for `dest`.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn file(dest: &Path) -> Result<(Self, std::fs::File)> {
        let path = Self::path_for(dest)?;
        let file =
            std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok((Self { path, done: false }, file))
    }

    /// Creates an empty temporary directory for `dest`.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn dir(dest: &Path) -> Result<Self> {
        let path = Self::path_for(dest)?;
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { path, done: false })
    }

    /// Makes the finished file or directory durable (fsync of the file, or of
    /// every file and directory in the tree) and renames it to `dest`, then
    /// syncs `dest`'s parent directory. When this returns, `dest` is complete
    /// on disk.
    ///
    /// # Errors
    /// When a sync or the rename fails (the temporary is then removed).
    pub fn commit(mut self, dest: &Path) -> Result<()> {
        fn sync_tree(path: &Path) -> Result<()> {
            if path.is_dir() {
                for entry in
                    std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?
                {
                    sync_tree(&entry?.path())?;
                }
            }
            std::fs::File::open(path)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("cannot sync {}", path.display()))
        }
        sync_tree(&self.path)?;
        std::fs::rename(&self.path, dest)
            .with_context(|| format!("cannot rename {} to {}", self.path.display(), dest.display()))?;
        self.done = true;
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent).and_then(|f| f.sync_all()).ok();
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            if self.path.is_dir() {
                let _ = std::fs::remove_dir_all(&self.path);
            } else {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}
