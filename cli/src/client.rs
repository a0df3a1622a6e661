//! Finding a running server for a database and talking to it.

use crate::ctx::Db;
use crate::wire::{Request, Response, read_frame, write_frame};
use anyhow::{Context, Result, anyhow, bail};
use orc_log_engine::AppendReceipt;
use orc_log_schemas::Event;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Longest socket path used inside the database directory; longer paths do
/// not fit `sockaddr_un` (108 bytes on Linux, unix(7)).
const MAX_SOCKET_PATH_BYTES: usize = 100;

/// The server socket of database `dir`: `DIR/serve.sock` when that path is
/// short enough, else `$XDG_RUNTIME_DIR/orc-log/` (or `/tmp/orc-log-UID/`) +
/// a hash of the database path. Both directories are 0700.
pub fn socket_path(dir: &Path) -> PathBuf {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let inside = abs.join("serve.sock");
    if inside.as_os_str().len() <= MAX_SOCKET_PATH_BYTES {
        return inside;
    }
    let hash = blake3::hash(abs.as_os_str().as_encoded_bytes()).to_hex();
    let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x).join("orc-log"),
        None => PathBuf::from(format!("/tmp/orc-log-{}", rustix::process::getuid().as_raw())),
    };
    base.join(format!("{}.sock", &hash[..16]))
}

/// A connection to the server of one database.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: BufWriter<UnixStream>,
}

impl Client {
    /// Connects to the server of `dir`, if one is running.
    pub fn connect(dir: &Path) -> Result<Option<Self>> {
        let path = socket_path(dir);
        match UnixStream::connect(&path) {
            Ok(s) => {
                let reader = BufReader::new(s.try_clone().context("cannot use the server socket")?);
                Ok(Some(Self { reader, writer: BufWriter::new(s) }))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e).with_context(|| format!("cannot connect to the server at {}", path.display())),
        }
    }

    fn send(&mut self, req: Request) -> Result<()> {
        write_frame(&mut self.writer, req).context("cannot send to the server")
    }

    fn recv(&mut self) -> Result<Response> {
        read_frame(&mut self.reader)
            .context("cannot read the server's answer")?
            .ok_or_else(|| anyhow!("the server closed the connection (did it stop?)"))
    }

    /// Appends through the server; Ok once the server says the events are durable.
    pub fn append(&mut self, events: Vec<Event>) -> Result<AppendReceipt> {
        self.send(Request::Append { events })?;
        match self.recv()? {
            Response::Appended { receipt } => Ok(receipt),
            Response::Error { message } => bail!("server: {message}"),
            other => bail!("unexpected answer from the server: {other:?}"),
        }
    }

    /// Runs a command on the server, relaying its output; returns its exit status.
    pub fn exec(&mut self, args: Vec<String>, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8> {
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        self.send(Request::Exec { args, cwd })?;
        loop {
            match self.recv()? {
                Response::Out { data } => {
                    out.write_all(data.as_bytes())?;
                    out.flush()?;
                }
                Response::Err { data } => err.write_all(data.as_bytes())?,
                Response::Exit { code } => return Ok(code),
                Response::Error { message } => bail!("server: {message}"),
                other => bail!("unexpected answer from the server: {other:?}"),
            }
        }
    }

    /// The seq of the event with producer id `id`, if any.
    pub fn seq_of_id(&mut self, id: &str) -> Result<Option<u64>> {
        self.send(Request::SeqOfId { id: id.to_owned() })?;
        match self.recv()? {
            Response::Seq { seq } => Ok(seq),
            Response::Error { message } => bail!("server: {message}"),
            other => bail!("unexpected answer from the server: {other:?}"),
        }
    }

    /// The pid and database of the server.
    pub fn ping(&mut self) -> Result<(u32, PathBuf)> {
        self.send(Request::Ping)?;
        match self.recv()? {
            Response::Pong { pid, db } => Ok((pid, db)),
            other => bail!("unexpected answer from the server: {other:?}"),
        }
    }
}

/// Where `ingest` and `emit` send events: the server, or the database directly.
pub enum Appender {
    /// Through a running server.
    Remote(Client),
    /// Straight into the database (no server runs).
    Direct(Db),
}

impl Appender {
    /// The server's appender when one runs for `dir`, else the database opened for writing.
    pub fn for_db(dir: &Path) -> Result<Self> {
        match Client::connect(dir)? {
            Some(c) => Ok(Appender::Remote(c)),
            None => Ok(Appender::Direct(Db::new(crate::db::open_for_write(dir)?))),
        }
    }

    /// Appends `events`; Ok means durable.
    pub fn append(&mut self, events: Vec<Event>) -> Result<AppendReceipt> {
        match self {
            Appender::Remote(c) => c.append(events),
            Appender::Direct(db) => Ok(db.write(|log| log.append(&events))?),
        }
    }

    /// The seq of an event id (for reporting duplicates).
    pub fn seq_of_id(&mut self, id: &str) -> Result<Option<u64>> {
        match self {
            Appender::Remote(c) => c.seq_of_id(id),
            Appender::Direct(db) => Ok(db.read(|log| log.seq_of_id(id))?),
        }
    }
}
