//! Where a command's output goes: the terminal, or a client's socket
//! (commands run against an [`orc_log_engine::SharedLog`], opened here or
//! owned by a server).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a command writes: stdout and stderr of the process, or a client's
/// socket. `cwd` is the user's working directory, for relative paths.
pub struct Io<'a> {
    /// Normal output.
    pub out: &'a mut dyn Write,
    /// Diagnostics.
    pub err: &'a mut dyn Write,
    /// The user's working directory.
    pub cwd: PathBuf,
    /// Whether a server runs the command (so `--follow` can wait for other writers).
    pub served: bool,
    /// Whether the user's standard output is a terminal (here, or the
    /// client's when a server runs the command), for defaults such as
    /// `query`'s table.
    pub terminal: bool,
}

impl Io<'_> {
    /// `path` as the user meant it: relative paths are taken from the user's
    /// working directory (the server's differs).
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.cwd.join(path) }
    }
}
