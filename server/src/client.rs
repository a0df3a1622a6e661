//! Finding a running server for a database and talking to it, or opening
//! the database directly when none runs, waiting instead of failing when
//! another process holds it for a moment.

use crate::error::{Error, Result};
use crate::wire::{Request, Response, events_to_wire, read_frame, write_frame};
use orc_log_engine::{AppendReceipt, Config, SharedLog};
use orc_log_schemas::Event;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// Connects to the server of `dir`, if one is running (`None` when no
    /// socket exists or nothing listens on it).
    ///
    /// # Errors
    /// [`Error::Io`] for any other connection failure.
    pub fn connect(dir: &Path) -> Result<Option<Self>> {
        let path = socket_path(dir);
        match UnixStream::connect(&path) {
            Ok(s) => {
                let reader =
                    BufReader::new(s.try_clone().map_err(|e| Error::io("use the server socket", &path, e))?);
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
            Err(e) => Err(Error::io("connect to the server at", &path, e)),
        }
    }

    fn send(&mut self, req: Request) -> Result<()> {
        write_frame(&mut self.writer, req).map_err(|e| Error::Disconnected(format!("cannot send: {e}")))
    }

    fn recv(&mut self) -> Result<Response> {
        read_frame(&mut self.reader)
            .map_err(|e| Error::Disconnected(format!("cannot read the answer: {e}")))?
            .ok_or_else(|| Error::Disconnected("the server closed the connection (did it stop?)".into()))
    }

    fn unexpected(resp: Response) -> Error {
        match resp {
            Response::Error { message } => Error::Server(message),
            other => Error::Protocol(format!("unexpected answer from the server: {other:?}")),
        }
    }

    /// Appends through the server (events go as format v1 objects).
    ///
    /// **Durability:** Ok once the server says the events are on stable
    /// storage (its group commit fsynced them).
    ///
    /// # Errors
    /// [`Error::Server`] with the server's reason (an invalid event is
    /// reported as `ingest` reports it); [`Error::Disconnected`].
    pub fn append(&mut self, events: &[Event]) -> Result<AppendReceipt> {
        self.send(Request::Append { events: events_to_wire(events) })?;
        match self.recv()? {
            Response::Appended { receipt } => Ok(receipt),
            other => Err(Self::unexpected(other)),
        }
    }

    /// Runs a command on the server as if in `cwd`, relaying its output;
    /// returns its exit status.
    ///
    /// # Errors
    /// [`Error::Server`], [`Error::Disconnected`], or writing `out`/`err`.
    pub fn exec(
        &mut self,
        args: Vec<String>,
        cwd: PathBuf,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<u8> {
        self.send(Request::Exec { args, cwd })?;
        let local = |e| Error::io("write the command's output to", "stdout", e);
        loop {
            match self.recv()? {
                Response::Out { data } => {
                    out.write_all(data.as_bytes()).map_err(local)?;
                    out.flush().map_err(local)?;
                }
                Response::Err { data } => err.write_all(data.as_bytes()).map_err(local)?,
                Response::Exit { code } => return Ok(code),
                other => return Err(Self::unexpected(other)),
            }
        }
    }

    /// The seq of the event with producer id `id`, if any.
    ///
    /// # Errors
    /// [`Error::Server`], [`Error::Disconnected`].
    pub fn seq_of_id(&mut self, id: &str) -> Result<Option<u64>> {
        self.send(Request::SeqOfId { id: id.to_owned() })?;
        match self.recv()? {
            Response::Seq { seq } => Ok(seq),
            other => Err(Self::unexpected(other)),
        }
    }

    /// The pid and database of the server.
    ///
    /// # Errors
    /// [`Error::Disconnected`], or an unexpected answer.
    pub fn ping(&mut self) -> Result<(u32, PathBuf)> {
        self.send(Request::Ping)?;
        match self.recv()? {
            Response::Pong { pid, db } => Ok((pid, db)),
            other => Err(Self::unexpected(other)),
        }
    }
}

/// How [`connect_or_open`] reaches a database.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Create the database when it does not exist (writers); readers get
    /// [`Error::NoDatabase`] instead.
    pub create: bool,
    /// How long to wait for a database held by another process: for a
    /// server that has taken the database but not bound its socket yet, or
    /// for a short-lived command to finish (SQLite's `busy_timeout`).
    pub lock_timeout: Duration,
    /// Engine settings for a database opened directly.
    pub config: Config,
}

impl Default for OpenOptions {
    /// Engine defaults, except that `ORC_LOG_SEGMENT_BYTES` (a byte count)
    /// sets [`Config::segment_bytes`], the segment roll size, when it is set
    /// and parses (small segments let tests roll and seal quickly).
    fn default() -> Self {
        let mut config = Config::default();
        if let Some(n) = std::env::var("ORC_LOG_SEGMENT_BYTES").ok().and_then(|v| v.parse().ok()) {
            config.segment_bytes = n;
        }
        Self { create: false, lock_timeout: DEFAULT_LOCK_TIMEOUT, config }
    }
}

/// The default of [`OpenOptions::lock_timeout`]: 10 s.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// A database reached by [`connect_or_open`].
#[derive(Debug)]
pub enum Endpoint {
    /// A running server owns it.
    Server(Client),
    /// No server runs: this process opened it (and holds its lock).
    Direct(SharedLog),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

/// Whether `dir` holds a database.
pub fn database_exists(dir: &Path) -> bool {
    dir.join("segments").exists() || dir.join("HEAD").exists() || dir.join("store").exists()
}

/// The server of `dir` when one answers, else the database opened here.
///
/// While another process holds the database, this keeps trying both, so
/// it connects as soon as a starting server binds its socket, or opens the
/// database as soon as a short-lived command lets go (polling every 1 ms,
/// doubling to 50 ms), for up to `opts.lock_timeout`.
///
/// # Errors
/// [`Error::Locked`] naming the holder after the timeout;
/// [`Error::NoDatabase`] for a missing database when `opts.create` is
/// false; engine errors from opening it.
pub fn connect_or_open(dir: &Path, opts: &OpenOptions) -> Result<Endpoint> {
    let deadline = Instant::now() + opts.lock_timeout;
    let mut pause = Duration::from_millis(1);
    let config = Config { lock_timeout: Duration::ZERO, ..opts.config.clone() };
    loop {
        if let Some(client) = Client::connect(dir)? {
            return Ok(Endpoint::Server(client));
        }
        if !opts.create && !database_exists(dir) {
            return Err(Error::NoDatabase(dir.to_owned()));
        }
        match SharedLog::open(dir, config.clone()) {
            Ok(log) => return Ok(Endpoint::Direct(log)),
            Err(orc_log_engine::Error::Locked { path, holder }) => {
                if Instant::now() >= deadline {
                    return Err(Error::Locked { path, holder, waited: opts.lock_timeout });
                }
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Where `ingest`, `emit` and the recorder send events: the server, or the
/// database directly.
#[derive(Debug)]
pub enum Appender {
    /// Through a running server.
    Remote(Client),
    /// Straight into the database (no server runs).
    Direct(SharedLog),
}

impl From<Endpoint> for Appender {
    /// Appends through the server, or into the database opened here.
    fn from(endpoint: Endpoint) -> Self {
        match endpoint {
            Endpoint::Server(c) => Appender::Remote(c),
            Endpoint::Direct(log) => Appender::Direct(log),
        }
    }
}

impl Appender {
    /// The server's appender when one runs for `dir`, else the database
    /// opened (created if missing) for writing; waits as [`connect_or_open`].
    ///
    /// # Errors
    /// As [`connect_or_open`].
    pub fn for_db(dir: &Path, lock_timeout: Duration) -> Result<Self> {
        let opts = OpenOptions { create: true, lock_timeout, ..OpenOptions::default() };
        Ok(connect_or_open(dir, &opts)?.into())
    }

    /// Appends `events`.
    ///
    /// **Durability:** Ok means every appended event is on stable storage.
    ///
    /// # Errors
    /// An invalid event (with `ingest`'s message), server and engine errors.
    pub fn append(&mut self, events: Vec<Event>) -> Result<AppendReceipt> {
        match self {
            Appender::Remote(c) => c.append(&events),
            Appender::Direct(log) => Ok(log.append(events)?),
        }
    }

    /// The seq of an event id (for reporting duplicates).
    ///
    /// # Errors
    /// Server and engine errors.
    pub fn seq_of_id(&mut self, id: &str) -> Result<Option<u64>> {
        match self {
            Appender::Remote(c) => c.seq_of_id(id),
            Appender::Direct(log) => Ok(log.snapshot().seq_of_id(id)?),
        }
    }
}
