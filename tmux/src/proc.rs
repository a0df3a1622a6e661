//! The full command line of a pane's foreground process, read from `/proc`
//! the way tmux-resurrect's `ps` strategy does: the pane's process
//! (`#{pane_pid}`, usually its shell) when it is itself the foreground
//! command, else its child whose name is the foreground command
//! (`#{pane_current_command}`), else its first child.
//!
//! Linux only in practice: where `/proc` does not exist or a file is not
//! readable (another user's process, one that just exited) the answer is
//! `None`, never an error.

use std::fs;
use std::path::Path;

/// The command line of the process pane `pid` shows in its foreground
/// (`command` is `#{pane_current_command}`): its arguments joined by single
/// spaces. `None` when `pid` is 0 or nothing readable fits.
pub fn foreground_cmdline(pid: u32, command: &str) -> Option<String> {
    foreground_cmdline_in(Path::new("/proc"), pid, command)
}

/// [`foreground_cmdline`] against a `/proc`-shaped directory (for tests).
pub fn foreground_cmdline_in(proc_dir: &Path, pid: u32, command: &str) -> Option<String> {
    if pid == 0 {
        return None;
    }
    if comm(proc_dir, pid).as_deref() == Some(command) {
        return cmdline(proc_dir, pid);
    }
    let children = children(proc_dir, pid);
    let chosen = children
        .iter()
        .copied()
        .find(|c| comm(proc_dir, *c).as_deref() == Some(command))
        .or_else(|| children.first().copied())?;
    cmdline(proc_dir, chosen)
}

/// `/proc/PID/comm` without its newline.
fn comm(proc_dir: &Path, pid: u32) -> Option<String> {
    let text = fs::read_to_string(proc_dir.join(pid.to_string()).join("comm")).ok()?;
    Some(text.trim_end_matches('\n').to_owned())
}

/// `/proc/PID/cmdline` (NUL-separated) joined by spaces; `None` when empty.
fn cmdline(proc_dir: &Path, pid: u32) -> Option<String> {
    let bytes = fs::read(proc_dir.join(pid.to_string()).join("cmdline")).ok()?;
    let args: Vec<String> = bytes
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() { None } else { Some(args.join(" ")) }
}

/// The processes whose parent is `pid`, lowest pid first (`/proc/*/stat`,
/// field 4; the name field may hold spaces and parentheses, so fields are
/// read after its last `)`).
fn children(proc_dir: &Path, pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(proc_dir) else { return Vec::new() };
    let mut out: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let Ok(stat) = fs::read_to_string(proc_dir.join(child.to_string()).join("stat")) else {
                return false;
            };
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return false };
            after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid)
        })
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(dir: &Path, pid: u32, ppid: u32, comm: &str, args: &[&str]) {
        let d = dir.join(pid.to_string());
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("comm"), format!("{comm}\n")).unwrap();
        fs::write(d.join("stat"), format!("{pid} ({comm} x) S {ppid} 1 1")).unwrap();
        let mut cmd = args.join("\0").into_bytes();
        cmd.push(0);
        fs::write(d.join("cmdline"), cmd).unwrap();
    }

    #[test]
    fn reads_the_foreground_child_or_the_pane_process() {
        let dir = tempfile::tempdir().unwrap();
        process(dir.path(), 100, 1, "bash", &["-bash"]);
        process(dir.path(), 120, 100, "sleep", &["sleep", "9"]);
        process(dir.path(), 130, 100, "claude", &["claude", "--resume", "abc"]);
        assert_eq!(foreground_cmdline_in(dir.path(), 100, "claude").as_deref(), Some("claude --resume abc"));
        assert_eq!(foreground_cmdline_in(dir.path(), 100, "bash").as_deref(), Some("-bash"));
        // No child of that name: the first child.
        assert_eq!(foreground_cmdline_in(dir.path(), 100, "vim").as_deref(), Some("sleep 9"));
        assert_eq!(foreground_cmdline_in(dir.path(), 0, "bash"), None);
        assert_eq!(foreground_cmdline_in(dir.path(), 999, "bash"), None);
    }

    #[test]
    fn reads_this_process_from_the_real_proc() {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let me = std::process::id();
        let comm = fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
        let line = foreground_cmdline(me, comm.trim_end()).unwrap();
        let exe = std::env::args().next().unwrap();
        assert!(line.starts_with(&exe), "{line:?} starts with {exe:?}");
    }
}
