//! Docs that cannot drift (issue 23).
//!
//! 1. Every repository path cited in a doc comment (`///`, `//!`) of every
//!    `.rs` file, in README.md, in `docs/*.md` and in engine/FORMAT.md
//!    exists. A citation is an inline code span, a word of the prose, or a
//!    Markdown link target (relative to the Markdown file). A code span counts
//!    as a path when it has a `/` after one of the repository's top-level
//!    directories (`engine/src/log.rs`, `tests/fixtures/`, `.ci/run`) or ends
//!    in a source extension (`.rs`, `.md`, `.py`, `.sh`, `.js`, `.css`,
//!    `.html`); a prose word only when it ends in `.rs`, `.md`, `.py` or `.sh`,
//!    or is a top-level directory's path with an extension or a trailing `/`.
//!    Not paths: database paths (`DIR/...` and other all-capital
//!    placeholders), absolute paths, `~/...`, URLs, `$VAR/...`, globs and
//!    templates (`*`, `<...>`, `{...}`, `...`), and what .gitignore ignores
//!    (`target/`). A path resolves from the repository root; in a crate (a
//!    directory with a Cargo.toml; a `.rs` file outside every crate belongs to
//!    its top-level directory) also from the crate's directory, or as the
//!    tail (whole components) of a path in the crate, so `src/storage/` and a
//!    bare file name of the crate count; in the Markdown outside every crate,
//!    a path not under a top-level directory may be the tail of any path of
//!    the repository (the tables of docs/ARCHITECTURE.md name files by module).
//! 2. Every `--flag` README.md gives an `orc-log` command is in that
//!    command's `--help` (the real binary's; its options, not the words of
//!    their descriptions): in fenced blocks every `orc-log` command's flags, in
//!    code spans those of an `orc-log` command or of one starting with a
//!    command's name (`tail --format json`). Prose does not say which command
//!    a span of flags only (`--keep`) is for, so such a flag must be in some
//!    command's `--help`.

use crate::common::bin_path;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Extensions that make a code span a path wherever it points.
const CODE_EXTENSIONS: &[&str] = &["rs", "md", "py", "sh", "js", "css", "html"];
/// Extensions that make a word of prose a path.
const PROSE_EXTENSIONS: &[&str] = &["rs", "md", "py", "sh"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_path_buf()
}

/// The repository's files and directories, as `/`-separated paths relative
/// to the root, without `.git` and what .gitignore ignores.
struct Repo {
    root: PathBuf,
    files: BTreeSet<String>,
    dirs: BTreeSet<String>,
    /// Top-level directories.
    top: BTreeSet<String>,
    /// Ignored paths (`.git`, and the .gitignore lines without wildcards).
    ignored: Vec<String>,
}

impl Repo {
    fn load(root: &Path) -> Repo {
        let gitignore = std::fs::read_to_string(root.join(".gitignore")).unwrap_or_default();
        let mut ignored = vec![".git".to_owned()];
        ignored.extend(
            gitignore
                .lines()
                .map(|l| l.trim().trim_matches('/'))
                .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.contains('*'))
                .map(str::to_owned),
        );
        let mut repo = Repo {
            root: root.to_path_buf(),
            files: BTreeSet::new(),
            dirs: BTreeSet::new(),
            top: BTreeSet::new(),
            ignored,
        };
        repo.walk(root, "");
        repo.top = repo.dirs.iter().filter(|d| !d.contains('/')).cloned().collect();
        repo
    }

    fn walk(&mut self, dir: &Path, rel: &str) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if self.is_ignored(&path) {
                continue;
            }
            let ty = entry.file_type().expect("file type");
            if ty.is_dir() {
                self.dirs.insert(path.clone());
                self.walk(&entry.path(), &path);
            } else {
                self.files.insert(path);
            }
        }
    }

    fn is_ignored(&self, path: &str) -> bool {
        self.ignored.iter().any(|i| path == i || path.starts_with(&format!("{i}/")))
    }

    fn exists(&self, path: &str, dir: bool) -> bool {
        self.dirs.contains(path) || (!dir && self.files.contains(path))
    }

    /// Whether some path under `scope` (everywhere: "") ends with the whole
    /// components of `tail`.
    fn has_tail(&self, scope: &str, tail: &str, dir: bool) -> bool {
        let suffix = format!("/{tail}");
        let prefix = if scope.is_empty() { String::new() } else { format!("{scope}/") };
        let matches = |p: &&String| p.starts_with(&prefix) && p.ends_with(&suffix);
        self.dirs.iter().any(|p| matches(&p)) || (!dir && self.files.iter().any(|p| matches(&p)))
    }

    /// The crate whose docs `file` is part of: its nearest directory with a
    /// Cargo.toml; a `.rs` file outside every crate belongs to its top-level
    /// directory; None for Markdown outside every crate.
    fn scope_of(&self, file: &str) -> Option<String> {
        let mut dir = file;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if self.files.contains(&format!("{parent}/Cargo.toml")) {
                return Some(parent.to_owned());
            }
            dir = parent;
        }
        if file.ends_with(".rs") { file.split_once('/').map(|(top, _)| top.to_owned()) } else { None }
    }

    /// Whether `path` (normalized, see [`as_path`]) cited in `file` exists.
    fn resolves(&self, file: &str, path: &str, dir: bool) -> bool {
        if self.exists(path, dir) {
            return true;
        }
        match self.scope_of(file) {
            Some(scope) => self.exists(&format!("{scope}/{path}"), dir) || self.has_tail(&scope, path, dir),
            None => {
                let under_top = path.split_once('/').is_some_and(|(first, _)| self.top.contains(first));
                !under_top && self.has_tail("", path, dir)
            }
        }
    }

    /// Whether a Markdown link `target` in `file` exists (relative to the
    /// file's directory); URLs and anchors are not checked.
    fn link_resolves(&self, file: &str, target: &str) -> bool {
        let target = target.split('#').next().unwrap_or_default();
        let base = file.rsplit_once('/').map_or("", |(d, _)| d);
        let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return false;
                    }
                }
                p => parts.push(p),
            }
        }
        let path = parts.join("/");
        path.is_empty() || self.exists(&path, target.ends_with('/'))
    }
}

/// One piece of a doc block: a code span, a line of prose, or a line of a
/// fenced code block.
#[derive(Debug)]
enum Piece {
    Code(String),
    Prose(String),
    Fenced(String),
}

/// Splits a block of consecutive doc lines (1-based line numbers) into
/// pieces, each with the line it starts on. As in Markdown, a code span may
/// cross lines but not a blank line, and a backtick without a partner is
/// prose.
fn pieces(lines: &[(usize, String)]) -> Vec<(usize, Piece)> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    // An open code span: its backtick run, start line and text so far.
    let mut open: Option<(usize, usize, String)> = None;
    let unclosed = |open: &mut Option<(usize, usize, String)>, out: &mut Vec<(usize, Piece)>| {
        if let Some((run, start, text)) = open.take() {
            out.push((start, Piece::Prose(format!("{}{text}", "`".repeat(run)))));
        }
    };
    for (n, line) in lines {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        if let Some(m) = marker
            && open.is_none()
            && fence.is_none_or(|f| f == m)
        {
            fence = if fence.is_some() { None } else { Some(m) };
            continue;
        }
        if fence.is_some() {
            out.push((*n, Piece::Fenced(line.clone())));
            continue;
        }
        if trimmed.is_empty() {
            unclosed(&mut open, &mut out);
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut prose = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '`' {
                match open.as_mut() {
                    Some((_, _, text)) => text.push(chars[i]),
                    None => prose.push(chars[i]),
                }
                i += 1;
                continue;
            }
            let run = chars[i..].iter().take_while(|c| **c == '`').count();
            i += run;
            match open.as_mut() {
                Some((len, start, text)) if *len == run => {
                    out.push((*start, Piece::Code(std::mem::take(text))));
                    open = None;
                }
                Some((_, _, text)) => text.push_str(&"`".repeat(run)),
                None => {
                    out.push((*n, Piece::Prose(std::mem::take(&mut prose))));
                    open = Some((run, *n, String::new()));
                }
            }
        }
        match open.as_mut() {
            Some((_, _, text)) => text.push(' '),
            None => out.push((*n, Piece::Prose(prose))),
        }
    }
    unclosed(&mut open, &mut out);
    out.retain(|(_, p)| !matches!(p, Piece::Prose(s) if s.trim().is_empty()));
    out
}

/// The path a citation names, normalized (no `./`, no line number or
/// anchor), and whether it names a directory (a trailing `/`); None when it
/// is not a repository path (see the module docs).
fn as_path(raw: &str, code: bool, repo: &Repo) -> Option<(String, bool)> {
    let mut t = raw.trim();
    if !code {
        t = t.trim_start_matches(['(', '[', '{', '"', '\'', '*', '_']);
        // `DESIGN.md's`, `"a.rs"`: the path ends at the quote.
        t = t.split(['\'', '"']).next().unwrap_or_default();
        t = t.trim_end_matches(['.', ',', ';', ':', ')', ']', '}', '!', '?', '*', '_']);
    }
    if let Some((path, anchor)) = t.split_once('#')
        && !path.is_empty()
        && !anchor.is_empty()
    {
        t = path;
    }
    // `engine/src/log.rs:120` or `:120:5`.
    while let Some((path, n)) = t.rsplit_once(':')
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        t = path;
    }
    let t = t.strip_prefix("./").unwrap_or(t);
    let forbidden = |c: char| c.is_whitespace() || "*<>{}?=[]$~|,()'\"@\\:;%&!^`#".contains(c);
    if t.is_empty() || t.contains(forbidden) || t.contains("...") || t.starts_with(['/', '-']) {
        return None;
    }
    let dir = t.ends_with('/');
    let t = t.trim_end_matches('/');
    let parts: Vec<&str> = t.split('/').collect();
    if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return None;
    }
    let first = parts[0];
    let placeholder = first.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if (parts.len() > 1 && placeholder) || repo.is_ignored(t) {
        return None;
    }
    let last = parts[parts.len() - 1];
    let ext = last.rsplit_once('.').filter(|(stem, e)| !stem.is_empty() && !e.is_empty()).map(|(_, e)| e);
    let under_top = (parts.len() > 1 || dir) && repo.top.contains(first);
    let named = if code {
        ext.is_some_and(|e| CODE_EXTENSIONS.contains(&e)) || under_top
    } else {
        ext.is_some_and(|e| PROSE_EXTENSIONS.contains(&e)) || (under_top && (dir || ext.is_some()))
    };
    named.then(|| (t.to_owned(), dir))
}

/// Markdown link targets `](target)` in `prose`, and the prose without them.
fn links(prose: &str) -> (Vec<String>, String) {
    let mut targets = Vec::new();
    let mut rest = String::new();
    let mut s = prose;
    while let Some(i) = s.find("](") {
        rest.push_str(&s[..i + 1]);
        let after = &s[i + 2..];
        let Some(end) = after.find(')') else {
            s = after;
            break;
        };
        let target = after[..end].split_whitespace().next().unwrap_or_default();
        targets.push(target.to_owned());
        rest.push(' ');
        s = &after[end + 1..];
    }
    rest.push_str(s);
    (targets, rest)
}

/// Cited paths of `file` (relative to the root; `text` its contents) that
/// do not exist, as `file:line: path`.
fn missing_paths(repo: &Repo, file: &str, text: &str) -> Vec<String> {
    let markdown = file.ends_with(".md");
    // Blocks of consecutive doc lines (Markdown: the whole file).
    let mut blocks: Vec<Vec<(usize, String)>> = Vec::new();
    let mut last = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let doc = if markdown {
            Some(line)
        } else {
            let t = line.trim_start();
            (!t.starts_with("////"))
                .then(|| t.strip_prefix("///").or_else(|| t.strip_prefix("//!")))
                .flatten()
        };
        let Some(doc) = doc else { continue };
        if last + 1 != n || blocks.is_empty() {
            blocks.push(Vec::new());
        }
        blocks.last_mut().expect("a block").push((n, doc.to_owned()));
        last = n;
    }
    let mut missing = Vec::new();
    for block in &blocks {
        for (n, piece) in pieces(block) {
            let check = |raw: &str, code: bool| {
                as_path(raw, code, repo)
                    .filter(|(path, dir)| !repo.resolves(file, path, *dir))
                    .map(|(path, dir)| format!("{file}:{n}: {path}{}", if dir { "/" } else { "" }))
            };
            let prose = match piece {
                Piece::Code(code) => {
                    missing.extend(check(&code, true));
                    continue;
                }
                Piece::Prose(p) | Piece::Fenced(p) => p,
            };
            let (targets, prose) = links(&prose);
            for target in targets {
                let url = target.contains("://") || target.starts_with("mailto:") || target.starts_with('#');
                if url || target.is_empty() {
                    continue;
                }
                if !markdown {
                    // A doc comment's link: an item (`crate::x`, skipped) or a path.
                    missing.extend(check(&target, true));
                } else if !repo.link_resolves(file, &target) {
                    missing.push(format!("{file}:{n}: ({target})"));
                }
            }
            for word in prose.split_whitespace() {
                missing.extend(check(word, false));
            }
        }
    }
    missing
}

/// The files whose docs are checked: every `.rs` file, README.md,
/// docs/*.md and engine/FORMAT.md.
fn documented_files(repo: &Repo) -> Vec<String> {
    let md = |f: &String| {
        f == "README.md"
            || f == "engine/FORMAT.md"
            || f.strip_prefix("docs/").is_some_and(|n| n.ends_with(".md") && !n.contains('/'))
    };
    repo.files.iter().filter(|f| f.ends_with(".rs") || md(f)).cloned().collect()
}

#[test]
fn every_cited_repository_path_exists() {
    let repo = Repo::load(&repo_root());
    let files = documented_files(&repo);
    assert!(files.len() > 100, "only {} documented files found under {}", files.len(), repo.root.display());
    for expected in ["README.md", "engine/FORMAT.md", "docs/ARCHITECTURE.md", "cli/src/main.rs"] {
        assert!(files.iter().any(|f| f == expected), "{expected} is not checked");
    }
    let mut missing = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(repo.root.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"));
        missing.extend(missing_paths(&repo, file, &text));
    }
    assert!(missing.is_empty(), "{} cited paths do not exist:\n{}", missing.len(), missing.join("\n"));
}

/// The extractor reports what does not exist and passes what does or is no
/// repository path.
#[test]
fn the_path_check_reports_a_missing_path() {
    let repo = Repo::load(&repo_root());
    // Lines are joined with "\n" so that no line of this file is a doc
    // comment citing a missing path.
    let text = [
        "//! Cites `no/such/file.rs` and (prose) engine/src/nosuch.rs,",
        "//! also `engine/src/log.rs`, `benches/server/`, `tests/fixtures/tmux-session-a.ndjson`,",
        "//! `DIR/segments/*.seg`, `DIR/HEAD`, `/tmp/x.rs`, `~/.claude/settings.json`, `$HOME/a.rs`,",
        "//! `target/debug/orc-log`, `src/*.rs`, `cli/src/cmd/<name>.rs`, <https://example.invalid/a.rs>,",
        "/// `src/storage/index.rs` `index.rs` `seal.rs` (engine's own), DESIGN.md's table,",
        "/// `nosuch.md` and a code span over",
        "/// two lines: `engine/src/",
        "/// nosuch.rs` (not one path), and `engine/src/log.rs:12`.",
    ]
    .join("\n");
    let missing = missing_paths(&repo, "engine/src/example.rs", &text);
    assert_eq!(
        missing,
        [
            "engine/src/example.rs:1: no/such/file.rs",
            "engine/src/example.rs:1: engine/src/nosuch.rs",
            "engine/src/example.rs:5: DESIGN.md",
            "engine/src/example.rs:6: nosuch.md",
        ],
        "what the check reports"
    );
    // A crate's bare file names are the crate's only.
    let missing = missing_paths(&repo, "tmux/src/example.rs", "/// `seal.rs` and `driver.rs`");
    assert_eq!(missing, ["tmux/src/example.rs:1: seal.rs"]);
    // Markdown: links resolve from the file; a top-level path from the root.
    let md = "See [the format](../engine/FORMAT.md), [gone](../engine/NOSUCH.md),\n\
              `engine/seal.rs`, `seal.rs` and `storage/read.rs`.\n\
              \n\
              ```sh\n\
              scripts/no-such-script.sh x   # a command\n\
              ```\n";
    let missing = missing_paths(&repo, "docs/EXAMPLE.md", md);
    assert_eq!(
        missing,
        [
            "docs/EXAMPLE.md:1: (../engine/NOSUCH.md)",
            "docs/EXAMPLE.md:2: engine/seal.rs",
            "docs/EXAMPLE.md:5: scripts/no-such-script.sh",
        ]
    );
}

/// An `orc-log` command's `--help`: its subcommands and its options.
#[derive(Clone, Default)]
struct Help {
    subcommands: Vec<String>,
    flags: BTreeSet<String>,
}

fn parse_help(text: &str) -> Help {
    let mut help = Help::default();
    let mut in_commands = false;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            in_commands = false;
        } else if indent == 0 {
            in_commands = trimmed == "Commands:";
        } else if in_commands && indent == 2 {
            let name = trimmed.split_whitespace().next().unwrap_or_default();
            if name != "help" {
                help.subcommands.push(name.to_owned());
            }
        } else if !in_commands && indent <= 6 && trimmed.starts_with('-') {
            // `-f, --follow`, `--kind <KIND>`: an option, not a description.
            for word in trimmed.split([' ', ',']) {
                if let Some(flag) = word.strip_prefix("--") {
                    let flag: String =
                        flag.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                    help.flags.insert(flag);
                } else if !word.is_empty() && !word.starts_with('-') {
                    break;
                }
            }
        }
    }
    help
}

/// The help of `orc-log` commands, asked for once each.
struct Cli<F: FnMut(&[String]) -> String> {
    help_text: F,
    cache: HashMap<Vec<String>, Help>,
}

impl<F: FnMut(&[String]) -> String> Cli<F> {
    fn help(&mut self, path: &[String]) -> Help {
        if let Some(h) = self.cache.get(path) {
            return h.clone();
        }
        let h = parse_help(&(self.help_text)(path));
        self.cache.insert(path.to_vec(), h.clone());
        h
    }

    /// The options of `path` and of all its subcommands.
    fn flags_below(&mut self, path: &[String]) -> BTreeSet<String> {
        let help = self.help(path);
        let mut flags = help.flags;
        for sub in help.subcommands {
            let mut p = path.to_vec();
            p.push(sub);
            flags.extend(self.flags_below(&p));
        }
        flags
    }
}

/// `orc-log PATH... --help` of the real binary.
fn real_help(path: &[String]) -> String {
    let out = std::process::Command::new(bin_path())
        .args(path)
        .arg("--help")
        .env_remove("ORC_LOG_DB")
        .env_remove("RUST_LOG")
        .output()
        .expect("orc-log --help runs");
    assert!(out.status.success(), "orc-log {} --help failed", path.join(" "));
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// Words of a shell line (quotes removed; a quoted part is one word).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            None => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// A `--flag` README.md cites: where, and for which command (`None`: a
/// code span of flags only, `--keep`).
struct FlagCitation {
    line: usize,
    command: Option<Vec<String>>,
    flag: String,
}

/// `NAME` of a `--NAME` or `--NAME=VALUE` word (`[--NAME` in a usage line).
fn flag_name(word: &str) -> Option<&str> {
    let name = word.trim_matches(['[', ']']).strip_prefix("--")?.split('=').next()?;
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then_some(name)
}

/// The flags of the `orc-log` command in `words` from `start` (after the
/// binary's name, or at an implicit one's first command), stopping at a
/// pipe, redirection, `&`, `;`, comment or `--`.
fn invocation(
    words: &[String],
    start: usize,
    line: usize,
    cli: &mut Cli<impl FnMut(&[String]) -> String>,
    out: &mut Vec<FlagCitation>,
) {
    let mut path: Vec<String> = Vec::new();
    for word in &words[start..] {
        if word == "--" || word.starts_with('#') || word.contains(['|', '&', ';', '>', '<', '}', ')']) {
            break;
        }
        if let Some(flag) = flag_name(word) {
            out.push(FlagCitation { line, command: Some(path.clone()), flag: flag.to_owned() });
        } else if !word.starts_with(['-', '[']) && cli.help(&path).subcommands.iter().any(|s| s == word) {
            path.push(word.to_owned());
        }
    }
}

fn is_orc_log(word: &str) -> bool {
    word.rsplit('/').next() == Some("orc-log")
}

/// The `--flag`s README.md cites: in fenced blocks, every `orc-log` command's;
/// in code spans, those of an `orc-log` command, or of one starting with a
/// command's name (`tail --format json`), or all of a span of flags only.
fn readme_flags(readme: &str, cli: &mut Cli<impl FnMut(&[String]) -> String>) -> Vec<FlagCitation> {
    let top = cli.help(&[]).subcommands;
    let lines: Vec<(usize, String)> =
        readme.lines().enumerate().map(|(i, l)| (i + 1, l.to_owned())).collect();
    let mut citations = Vec::new();
    let mut fenced = false;
    let mut prose: Vec<(usize, String)> = Vec::new();
    for (n, line) in &lines {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            let words = shell_words(line);
            for (w, word) in words.iter().enumerate() {
                if is_orc_log(word) {
                    invocation(&words, w + 1, *n, cli, &mut citations);
                }
            }
        } else {
            prose.push((*n, line.clone()));
        }
    }
    for (n, piece) in pieces(&prose) {
        let Piece::Code(span) = piece else { continue };
        let words = shell_words(&span);
        let Some(first) = words.first() else { continue };
        if flag_name(first).is_some() {
            for flag in words.iter().filter_map(|w| flag_name(w)) {
                citations.push(FlagCitation { line: n, command: None, flag: flag.to_owned() });
            }
        } else if top.contains(first) {
            invocation(&words, 0, n, cli, &mut citations);
        } else {
            for (w, word) in words.iter().enumerate() {
                if is_orc_log(word) {
                    invocation(&words, w + 1, n, cli, &mut citations);
                }
            }
        }
    }
    citations.sort_by_key(|c| c.line);
    citations
}

/// Every `--flag` README.md cites that is not in its command's `--help`
/// (a span of flags only: in no command's), as `README.md:line: ...`.
fn wrong_flags(readme: &str, cli: &mut Cli<impl FnMut(&[String]) -> String>) -> Vec<String> {
    let mut wrong = Vec::new();
    for c in readme_flags(readme, cli) {
        match &c.command {
            Some(path) => {
                if !cli.help(path).flags.contains(&c.flag) {
                    let command: Vec<&str> = path.iter().map(String::as_str).collect();
                    let command = ["orc-log"].iter().chain(&command).copied().collect::<Vec<_>>().join(" ");
                    wrong.push(format!("README.md:{}: --{} is not in `{command} --help`", c.line, c.flag));
                }
            }
            None => {
                if !cli.flags_below(&[]).contains(&c.flag) {
                    wrong.push(format!(
                        "README.md:{}: --{} is in no orc-log command's --help",
                        c.line, c.flag
                    ));
                }
            }
        }
    }
    wrong
}

#[test]
fn every_readme_flag_is_in_its_commands_help() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let mut cli = Cli { help_text: real_help, cache: HashMap::new() };
    let wrong = wrong_flags(&readme, &mut cli);
    assert!(wrong.is_empty(), "{} README flags are not in --help:\n{}", wrong.len(), wrong.join("\n"));
    // The check saw README's commands (and so would see a wrong flag in them).
    let asked: BTreeMap<String, usize> =
        cli.cache.iter().map(|(p, h)| (p.join(" "), h.flags.len())).collect();
    for command in ["tail", "session record", "emit message", "hook install", "export", "query"] {
        assert!(
            asked.get(command).is_some_and(|n| *n > 2),
            "README's `{command}` was not checked: {asked:?}"
        );
    }
}

/// The flag check reports a flag the command does not have, with a fake
/// `--help`.
#[test]
fn the_flag_check_reports_a_wrong_flag() {
    let fake = |path: &[String]| -> String {
        match path.join(" ").as_str() {
            "" => "Usage: orc-log [OPTIONS] <COMMAND>\n\nCommands:\n  tail  Print events\n  emit  Append\n  \
                   help  Print this\n\nOptions:\n      --db <DIR>\n          Database, see --not-a-flag\n"
                .to_owned(),
            "tail" => "Usage: orc-log tail\n\nOptions:\n      --db <DIR>\n  -f, --follow\n          \
                       Wait; ends after --lock-timeout\n"
                .to_owned(),
            "emit" => "Commands:\n  marker  A marker\n\nOptions:\n      --db <DIR>\n".to_owned(),
            "emit marker" => "Options:\n      --label <LABEL>\n      --no-redact\n".to_owned(),
            other => panic!("no such command: {other}"),
        }
    };
    let mut cli = Cli { help_text: fake, cache: HashMap::new() };
    let readme = "Run `orc-log --db d tail --follow --lock-timeout 1s`, see\n\
                  `orc-log emit\n\
                  marker --label=x` and `-----BEGIN ... KEY-----`.\n\
                  \n\
                  ```sh\n\
                  orc-log emit marker --label x --redact | orc-log tail -f   # --nothing\n\
                  ```\n\
                  \n\
                  `--no-redact` keeps secrets; `--follow` is for `tail`, as in `tail --follow --label`.\n\
                  \n\
                  `--label` and `--keep`.\n";
    assert_eq!(
        wrong_flags(readme, &mut cli),
        [
            "README.md:1: --lock-timeout is not in `orc-log tail --help`",
            "README.md:6: --redact is not in `orc-log emit marker --help`",
            "README.md:9: --label is not in `orc-log tail --help`",
            "README.md:11: --keep is in no orc-log command's --help",
        ]
    );
}
