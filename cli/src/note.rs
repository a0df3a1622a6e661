//! Portable checkpoints: the log's head as a C2SP `tlog-checkpoint` note
//! (<https://c2sp.org/tlog-checkpoint>), optionally signed with Ed25519 in
//! the C2SP `signed-note` form (<https://c2sp.org/signed-note>, the format of
//! Go's `golang.org/x/mod/sumdb/note`). engine/FORMAT.md, "Portable
//! checkpoints", gives every byte. The only module that names
//! `ed25519-dalek`, `sha2` and `base64`.
//!
//! A note's text is three lines, each ending in `\n`: the origin (the
//! database's id), the size (the head seq, decimal) and the root (the chain
//! hash after that seq, standard base64). A signed note follows it with an
//! empty line and one signature line per key: `— NAME BASE64` (an em dash
//! U+2014 and a space), where BASE64 encodes the key's 4-byte id and the
//! 64-byte Ed25519 signature of the text.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, Verifier};
use sha2::Digest;
use std::path::Path;

/// The signature algorithm byte of Ed25519 in signed notes (C2SP).
const ALG_ED25519: u8 = 0x01;
/// What starts a signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// A checkpoint: which log, how long, and its chain hash there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The database's id (`orc-log/` + 32 hex digits).
    pub origin: String,
    /// The head seq the checkpoint was taken at.
    pub size: u64,
    /// The chain hash after seq `size`.
    pub root: [u8; 32],
}

impl Checkpoint {
    /// The note text: origin, size and base64 root, each line ending in `\n`.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root))
    }
}

/// One signature line of a note.
#[derive(Debug, Clone)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id: the first 4 bytes of SHA-256(name || `\n` || 0x01 || public key).
    pub id: [u8; 4],
    /// The signature bytes (64 for Ed25519).
    pub sig: Vec<u8>,
}

/// A parsed note: its checkpoint, its exact text, and its signatures.
#[derive(Debug, Clone)]
pub struct Note {
    /// The checkpoint the text states.
    pub checkpoint: Checkpoint,
    /// The signed text (the three lines), byte for byte as read.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

/// A signing key: its name and Ed25519 key.
pub struct SigningKey {
    name: String,
    key: ed25519_dalek::SigningKey,
}

/// A verifier (public) key: name, id and Ed25519 key.
#[derive(Debug, Clone)]
pub struct VerifierKey {
    /// The key name.
    pub name: String,
    /// The key id (see [`NoteSignature::id`]).
    pub id: [u8; 4],
    key: ed25519_dalek::VerifyingKey,
}

/// The key id of an Ed25519 public key under `name` (C2SP signed-note).
fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Checks a key name: non-empty, no Unicode space, no `+` (C2SP signed-note).
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        bail!("key name {name:?} must be non-empty, without spaces or '+'");
    }
    Ok(())
}

impl SigningKey {
    /// A new random key named `name` (seed from the operating system's
    /// random source).
    ///
    /// # Errors
    /// A bad name, or no random source.
    pub fn generate(name: &str) -> Result<Self> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow!("no random source for a new key: {e}"))?;
        Ok(Self { name: name.to_owned(), key: ed25519_dalek::SigningKey::from_bytes(&seed) })
    }

    /// The private key in Go's note format:
    /// `PRIVATE+KEY+NAME+ID(8 hex)+BASE64(0x01 || 32-byte seed)`.
    pub fn encode(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("PRIVATE+KEY+{}+{}+{}", self.name, hex(&self.verifier().id), B64.encode(raw))
    }

    /// Parses [`SigningKey::encode`]'s form (surrounding whitespace ignored).
    ///
    /// # Errors
    /// Names the part that is wrong.
    pub fn decode(s: &str) -> Result<Self> {
        let s = s.trim();
        let rest = s
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| anyhow!("not a private key (no PRIVATE+KEY+ prefix)"))?;
        let (name, id, key) = split_key(rest)?;
        let seed: [u8; 32] = key.try_into().map_err(|_| anyhow!("the private key is not 32 bytes"))?;
        let out = Self { name: name.to_owned(), key: ed25519_dalek::SigningKey::from_bytes(&seed) };
        if out.verifier().id != id {
            bail!("the private key's id {} does not match its name and key", hex(&id));
        }
        Ok(out)
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        let key = self.key.verifying_key();
        VerifierKey { name: self.name.clone(), id: key_id(&self.name, key.as_bytes()), key }
    }

    /// `text` signed: the text, an empty line, and this key's signature line.
    pub fn sign(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut raw = self.verifier().id.to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }
}

/// Splits `NAME+ID+BASE64` and checks the algorithm byte.
fn split_key(s: &str) -> Result<(&str, [u8; 4], Vec<u8>)> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("a key is NAME+ID+KEY; got {s:?}");
    };
    check_name(name)?;
    let id = unhex4(id).ok_or_else(|| anyhow!("key id {id:?} is not 8 hex digits"))?;
    let raw = B64.decode(key).map_err(|e| anyhow!("key {key:?} is not base64: {e}"))?;
    match raw.split_first() {
        Some((&ALG_ED25519, rest)) => Ok((name, id, rest.to_vec())),
        _ => bail!("the key is not an Ed25519 key (algorithm byte 0x01)"),
    }
}

impl VerifierKey {
    /// The verifier key in Go's note format: `NAME+ID(8 hex)+BASE64(0x01 || public key)`.
    pub fn encode(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex(&self.id), B64.encode(raw))
    }

    /// Parses [`VerifierKey::encode`]'s form.
    ///
    /// # Errors
    /// Names the part that is wrong.
    pub fn decode(s: &str) -> Result<Self> {
        let (name, id, key) = split_key(s.trim())?;
        let public: [u8; 32] = key.try_into().map_err(|_| anyhow!("the public key is not 32 bytes"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public)
            .map_err(|e| anyhow!("the public key is not a valid Ed25519 point: {e}"))?;
        if key_id(name, &public) != id {
            bail!("the public key's id {} does not match its name and key", hex(&id));
        }
        Ok(Self { name: name.to_owned(), id, key })
    }

    /// Checks that `note` carries a valid signature by this key.
    ///
    /// # Errors
    /// No signature line by this key (name and id), or one that does not verify.
    pub fn check(&self, note: &Note) -> Result<()> {
        let mut found = false;
        for s in note.signatures.iter().filter(|s| s.name == self.name && s.id == self.id) {
            found = true;
            let Ok(sig) = ed25519_dalek::Signature::from_slice(&s.sig) else { continue };
            if self.key.verify(note.text.as_bytes(), &sig).is_ok() {
                return Ok(());
            }
        }
        if found {
            bail!(
                "the signature by key {} does not verify: the note was changed after it was signed",
                self.name
            )
        }
        bail!("the note has no signature by key {} (id {})", self.name, hex(&self.id))
    }
}

/// Parses a note: three text lines, then optionally an empty line and
/// signature lines.
///
/// # Errors
/// Names the line that is wrong.
pub fn parse(note: &str) -> Result<Note> {
    let mut lines = note.split_inclusive('\n');
    let mut text = String::new();
    let mut take = |what: &str| -> Result<String> {
        let line = lines.next().ok_or_else(|| anyhow!("the note ends before its {what} line"))?;
        let body = line
            .strip_suffix('\n')
            .ok_or_else(|| anyhow!("the note's {what} line does not end in a newline"))?;
        text.push_str(line);
        Ok(body.to_owned())
    };
    let origin = take("origin")?;
    if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c == '+') {
        bail!("line 1: origin {origin:?} is empty or has a space or '+'");
    }
    let size_s = take("size")?;
    let size: u64 = match size_s.parse::<u64>() {
        Ok(n) if size_s == n.to_string() => n,
        _ => bail!("line 2: size {size_s:?} is not a decimal number without leading zeros"),
    };
    let root_s = take("root")?;
    let root: [u8; 32] = B64
        .decode(&root_s)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or_else(|| anyhow!("line 3: root {root_s:?} is not 32 bytes of base64"))?;
    let rest: Vec<&str> = lines.collect();
    let mut signatures = Vec::new();
    if let Some((blank, sigs)) = rest.split_first() {
        if *blank != "\n" {
            bail!("line 4: expected an empty line before the signatures, found {:?}", blank.trim_end());
        }
        for (i, line) in sigs.iter().enumerate() {
            let n = i + 5;
            let body = line
                .strip_suffix('\n')
                .and_then(|l| l.strip_prefix(SIG_PREFIX))
                .ok_or_else(|| anyhow!("line {n}: a signature line is '\u{2014} NAME SIGNATURE'"))?;
            let (name, b64) =
                body.split_once(' ').ok_or_else(|| anyhow!("line {n}: no space after the key name"))?;
            let raw = B64.decode(b64).map_err(|e| anyhow!("line {n}: the signature is not base64: {e}"))?;
            if raw.len() < 5 {
                bail!("line {n}: the signature is shorter than a key id");
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                id: [raw[0], raw[1], raw[2], raw[3]],
                sig: raw[4..].to_vec(),
            });
        }
        if signatures.is_empty() {
            bail!("the note has an empty line but no signature after it");
        }
    }
    Ok(Note { checkpoint: Checkpoint { origin, size, root }, text, signatures })
}

/// Reads a key argument: the key itself, or the path of a file holding it
/// (relative to `cwd`).
///
/// # Errors
/// The file cannot be read.
pub fn read_key_arg(arg: &str, cwd: &Path) -> Result<String> {
    let path = cwd.join(arg);
    if path.is_file() {
        return std::fs::read_to_string(&path)
            .with_context(|| format!("reading key file {}", path.display()));
    }
    Ok(arg.to_owned())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex4(s: &str) -> Option<[u8; 4]> {
    if s.len() != 8 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 4];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp() -> Checkpoint {
        Checkpoint { origin: "orc-log/00112233445566778899aabbccddeeff".into(), size: 42, root: [7; 32] }
    }

    #[test]
    fn sign_parse_and_verify_round_trip() {
        let key = SigningKey::generate("alice").unwrap();
        let note = key.sign(&cp().text());
        let parsed = parse(&note).unwrap();
        assert_eq!(parsed.checkpoint, cp());
        assert_eq!(parsed.signatures.len(), 1);
        key.verifier().check(&parsed).unwrap();
        // Keys round-trip through their text forms.
        let again = SigningKey::decode(&key.encode()).unwrap();
        assert_eq!(again.verifier().encode(), key.verifier().encode());
        let v = VerifierKey::decode(&key.verifier().encode()).unwrap();
        v.check(&parsed).unwrap();
        // Another key's signature is not this key's.
        let other = SigningKey::generate("alice").unwrap();
        assert!(other.verifier().check(&parsed).unwrap_err().to_string().contains("no signature"));
    }

    #[test]
    fn every_flipped_byte_of_a_signed_note_is_caught() {
        let key = SigningKey::generate("k").unwrap();
        let note = key.sign(&cp().text());
        let v = key.verifier();
        for i in 0..note.len() {
            let mut b = note.clone().into_bytes();
            b[i] ^= 0x01;
            let Ok(s) = String::from_utf8(b) else { continue };
            let ok = parse(&s).map(|n| v.check(&n).is_ok() && n.checkpoint == cp()).unwrap_or(false);
            assert!(!ok, "flipping byte {i} went unnoticed");
        }
    }

    #[test]
    fn the_c2sp_key_id_and_text_layout() {
        // The key id is SHA-256(name || "\n" || 0x01 || key)[..4] (C2SP signed-note).
        let key = SigningKey::generate("example.com/log").unwrap();
        let pk = key.verifier();
        let mut h = sha2::Sha256::new();
        h.update(b"example.com/log\n\x01");
        h.update(pk.key.as_bytes());
        assert_eq!(pk.id[..], h.finalize()[..4]);
        assert_eq!(
            cp().text(),
            "orc-log/00112233445566778899aabbccddeeff\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"
        );
        assert!(parse("a\n01\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").is_err(), "leading zero");
        assert!(parse("a\n1\nBwcH\n").is_err(), "short root");
        assert!(parse("a\n1").is_err(), "cut");
    }
}
