//! `orc-log checkpoint`: the log's head as a portable, optionally signed
//! checkpoint note; and `verify --trusted`'s check that the log extends one.

use crate::ctx::Io;
use crate::note::{self, Checkpoint, SigningKey, VerifierKey};
use anyhow::{Context, Result, anyhow, bail};
use orc_log_engine::{SharedLog, Snapshot};
use std::io::Write as _;
use std::path::PathBuf;

/// Print the log's head as a portable checkpoint: a C2SP tlog-checkpoint
/// note (origin = the database's id, size = the head seq, root = the chain
/// hash at the head, base64), signed with `--key` (Ed25519, C2SP signed-note).
///
/// Keep the note somewhere else (another machine, a ticket, a commit). Later,
/// `orc-log verify --trusted NOTE` proves the log still extends it: the same
/// chain hash at that seq, so nothing up to there was rewritten, rolled back
/// or forked since. `--generate-key NAME --key FILE` makes a signing key
/// (FILE, mode 0600) and prints its public (verifier) key, which
/// `verify --public-key` takes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sign the note with the private key in FILE (made by `--generate-key`,
    /// Go's note format `PRIVATE+KEY+NAME+ID+KEY`).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Make a new Ed25519 signing key named NAME, write it to `--key FILE`
    /// (refusing to replace a file) and its verifier key to FILE.pub, and
    /// print the verifier key; no checkpoint is printed.
    #[arg(long, value_name = "NAME", requires = "key")]
    generate_key: Option<String>,
}

/// The database's id for checkpoints: `orc-log/` and the first 16 bytes of
/// the chain hash after seq 1, in hex.
///
/// # Errors
/// An empty log has no id yet; read errors.
pub fn database_id(snap: &Snapshot) -> Result<String> {
    let first = snap
        .chain_at_chunk_end(1)?
        .filter(|_| snap.head().seq >= 1)
        .ok_or_else(|| anyhow!("the log is empty: a checkpoint needs at least one event"))?;
    Ok(format!("orc-log/{}", first[..16].iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Runs `orc-log checkpoint`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    if let Some(name) = &args.generate_key {
        let path = io.resolve(args.key.as_deref().context("--generate-key needs --key FILE")?);
        let key = SigningKey::generate(name)?;
        write_new(&path, &format!("{}\n", key.encode()), 0o600)?;
        let public = key.verifier().encode();
        let mut pub_path = path.into_os_string();
        pub_path.push(".pub");
        let pub_path = PathBuf::from(pub_path);
        write_new(&pub_path, &format!("{public}\n"), 0o644)?;
        writeln!(io.out, "{public}")?;
        writeln!(io.err, "orc-log: wrote the signing key and its verifier key to {}", pub_path.display())?;
        return Ok(0);
    }
    let snap = db.snapshot();
    let head = snap.head();
    let cp = Checkpoint { origin: database_id(&snap)?, size: head.seq, root: head.chain_hash };
    // Compaction keeps the chain hash at this seq, for `verify --trusted`.
    orc_log_engine::retention::record_checkpoint(snap.dir(), head.seq)
        .context("recording the checkpoint's seq")?;
    let text = cp.text();
    match &args.key {
        Some(path) => {
            let path = io.resolve(path);
            let raw = std::fs::read_to_string(&path)
                .with_context(|| format!("reading key file {}", path.display()))?;
            let key = SigningKey::decode(&raw).with_context(|| format!("key file {}", path.display()))?;
            write!(io.out, "{}", key.sign(&text))?;
        }
        None => write!(io.out, "{text}")?,
    }
    Ok(0)
}

/// Creates `path` with `contents` and `mode`, refusing to replace a file.
fn write_new(path: &std::path::Path, contents: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {} (an existing file is never replaced)", path.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// What `verify --trusted` found: the trusted checkpoint's seq and whether
/// its signature was checked.
pub struct Extends {
    /// The checkpoint's size (seq).
    pub seq: u64,
    /// The key whose signature was checked, if one was.
    pub signed_by: Option<String>,
}

/// Checks that the log of `snap` (already verified whole) extends the
/// checkpoint note in `note_path`, whose signature by `public_key` (the key
/// or a file holding it) must verify when given.
///
/// # Errors
/// Why not, in words: a malformed or tampered note, a bad signature, another
/// database, a log that ends before the checkpoint (rolled back), or a chain
/// hash at its seq that differs (the log was rewritten or forked since).
pub fn check_trusted(
    snap: &Snapshot,
    note_path: &std::path::Path,
    public_key: Option<&str>,
    cwd: &std::path::Path,
) -> Result<Extends> {
    let text = std::fs::read_to_string(note_path)
        .with_context(|| format!("reading checkpoint {}", note_path.display()))?;
    let parsed = note::parse(&text)
        .with_context(|| format!("checkpoint {} is malformed or was tampered with", note_path.display()))?;
    let signed_by = match public_key {
        Some(k) => {
            let key = VerifierKey::decode(&note::read_key_arg(k, cwd)?).context("--public-key")?;
            key.check(&parsed)
                .with_context(|| format!("checkpoint {} was tampered with", note_path.display()))?;
            Some(key.name)
        }
        None => None,
    };
    let cp = &parsed.checkpoint;
    let id = database_id(snap)?;
    if cp.origin != id {
        bail!(
            "checkpoint {} is of database {}, but this log is {id} (another database, or its first event was rewritten)",
            note_path.display(),
            cp.origin
        );
    }
    let head = snap.head().seq;
    if cp.size > head {
        bail!(
            "the log ends at seq {head}, before the checkpoint's seq {}: it was rolled back (or this is an older copy) since the checkpoint was taken",
            cp.size
        );
    }
    let chain = snap.chain_at_chunk_end(cp.size)?.ok_or_else(|| anyhow!("the log has no seq {}", cp.size))?;
    if chain != cp.root {
        bail!(
            "the log's chain hash at seq {} is {}, the checkpoint's is {}: the log was rewritten or forked since the checkpoint (an older copy with new appends, or a changed event)",
            cp.size,
            hex(&chain),
            hex(&cp.root)
        );
    }
    Ok(Extends { seq: cp.size, signed_by })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
