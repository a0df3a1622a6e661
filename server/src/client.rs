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
            Response::Error { code, message, index, line_error, seq } => {
                crate::wire::RemoteError::into_error(code, message, index, line_error, seq)
            }
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

    /// Waits up to `timeout` for a server of `dir` to answer (polling as
    /// [`connect_or_open`] does while a database is busy): for a follower
    /// whose server stopped, to go on once it is restarted.
    ///
    /// Returns `None` when none answered in time.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub fn wait_for(dir: &Path, timeout: Duration) -> Result<Option<Self>> {
        let mut backoff = Backoff::until(timeout);
        loop {
            if let Some(client) = Self::connect(dir)? {
                return Ok(Some(client));
            }
            if !backoff.pause() {
                return Ok(None);
            }
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
    let mut backoff = Backoff::until(opts.lock_timeout);
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
                if !backoff.pause() {
                    return Err(Error::Locked { path, holder, waited: opts.lock_timeout });
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The wait of [`connect_or_open`] and [`Client::wait_for`]: polls every
/// 1 ms, doubling to 50 ms, until a deadline.
#[derive(Debug)]
struct Backoff {
    deadline: Instant,
    pause: Duration,
}

impl Backoff {
    /// A wait of at most `timeout` from now.
    fn until(timeout: Duration) -> Self {
        Self { deadline: Instant::now() + timeout, pause: Duration::from_millis(1) }
    }

    /// Sleeps for the next pause (cut at the deadline); false, without
    /// sleeping, once the deadline has passed.
    fn pause(&mut self) -> bool {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(self.pause.min(left));
        self.pause = (self.pause * 2).min(Duration::from_millis(50));
        true
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

/// Whether `e` means the connection to the server is gone (the server
/// stopped or died), as opposed to the server refusing the request.
fn is_connection_lost(e: &Error) -> bool {
    matches!(e, Error::Disconnected(_) | Error::Io { .. })
}

/// An appender for a long-running writer (`orc-log session record`) that
/// outlives restarts of the server it writes through.
///
/// While the server is away, each batch goes to the database's
/// [`Spool`] (durable before [`Reconnecting::append`] returns), and the
/// caller carries on: the recorder keeps watching tmux, so what happens on
/// screen meanwhile is still recorded, with its own times. Every later
/// batch first tries to reach a server again (a cheap `connect`); once one
/// answers, the spool is appended through it, then the batch. A restarted
/// `orc-log serve` drains the spool itself before it binds its socket, so
/// spooled events keep their order before anything newer.
///
/// It never opens the database directly while the server is away: a
/// recorder holding the database would keep the restarted server from
/// starting. Only [`Reconnecting::finish`], when the writer ends, may
/// open it (waiting as [`connect_or_open`]) to empty the spool.
///
/// Every event gets a producer id (`PREFIX-PID-START-N`) unless it has
/// one, so an append whose answer was lost with the connection, resent
/// through the spool, appends nothing twice (the log skips ids it holds).
#[derive(Debug)]
pub struct Reconnecting {
    dir: PathBuf,
    link: Option<Appender>,
    spool: crate::spool::Spool,
    id_prefix: String,
    next_id: u64,
    /// Events this writer spooled that are not appended yet.
    spooled: u64,
}

/// What [`Reconnecting::append`] did with one batch.
#[derive(Debug)]
pub enum Delivery {
    /// Appended; nothing was waiting.
    Appended(AppendReceipt),
    /// A server answered again: the spool was appended first (`drained`),
    /// then the batch (`receipt`).
    Resumed {
        /// What the spool held.
        drained: crate::spool::DrainReport,
        /// The batch's own append.
        receipt: AppendReceipt,
    },
    /// No server: the batch is in the spool.
    Spooled {
        /// Why the connection ended, on the batch that found it gone
        /// (`None` on later batches of the same outage).
        lost: Option<Error>,
        /// Events of this writer waiting in the spool, this batch included.
        waiting: u64,
    },
}

impl Reconnecting {
    /// Wraps `appender`, reached for database `dir`; ids made here start
    /// with `id_prefix` (e.g. `rec`).
    pub fn new(appender: Appender, dir: &Path, id_prefix: &str) -> Self {
        let started = orc_log_schemas::now_ns();
        Self {
            dir: dir.to_owned(),
            link: Some(appender),
            spool: crate::spool::Spool::for_db(dir),
            id_prefix: format!("{id_prefix}-{}-{started:x}-", std::process::id()),
            next_id: 0,
            spooled: 0,
        }
    }

    /// The spool that holds batches while the server is away.
    pub fn spool(&self) -> &crate::spool::Spool {
        &self.spool
    }

    /// The current connection, if any (`None` while the server is away).
    pub fn link(&mut self) -> Option<&mut Appender> {
        self.link.as_mut()
    }

    /// Appends `events` (ids are added where missing), through the server
    /// or into the spool; see the type's documentation.
    ///
    /// **Durability:** Ok means the events are on stable storage, in the
    /// log or in the spool.
    ///
    /// # Errors
    /// The server refusing the events ([`Error::Server`]), engine errors of
    /// a database opened here, and spool I/O errors. A lost connection is
    /// no error.
    pub fn append(&mut self, mut events: Vec<Event>) -> Result<Delivery> {
        for e in events.iter_mut().filter(|e| e.id.is_none()) {
            e.id = Some(format!("{}{}", self.id_prefix, self.next_id));
            self.next_id += 1;
        }
        if self.link.is_none() {
            self.link = Client::connect(&self.dir).ok().flatten().map(Appender::Remote);
            if self.link.is_none() {
                return self.spool_batch(&events, None);
            }
        }
        let Some(link) = self.link.as_mut() else { return self.spool_batch(&events, None) };
        let drained = if self.spooled > 0 || !self.spool.is_empty() {
            match self.spool.drain(link) {
                Ok(report) => Some(report),
                Err(e) if is_connection_lost(&e) => return self.lost(&events, e),
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let appended = match link {
            Appender::Remote(c) => c.append(&events),
            Appender::Direct(log) => Ok(log.append(events.clone())?),
        };
        match appended {
            Ok(receipt) => {
                self.spooled = 0;
                Ok(match drained {
                    Some(drained) => Delivery::Resumed { drained, receipt },
                    None => Delivery::Appended(receipt),
                })
            }
            Err(e) if is_connection_lost(&e) => self.lost(&events, e),
            Err(e) => Err(e),
        }
    }

    /// The connection broke: forget it and spool `events`.
    fn lost(&mut self, events: &[Event], e: Error) -> Result<Delivery> {
        self.link = None;
        self.spool_batch(events, Some(e))
    }

    fn spool_batch(&mut self, events: &[Event], lost: Option<Error>) -> Result<Delivery> {
        self.spool.push_all(events)?;
        self.spooled += events.len() as u64;
        Ok(Delivery::Spooled { lost, waiting: self.spooled })
    }

    /// Ends the writer: when it left events in the spool, appends them,
    /// through a server or by opening the database here (waiting up to
    /// `lock_timeout` as [`connect_or_open`]). Returns what was appended
    /// (`None`: nothing was waiting).
    ///
    /// # Errors
    /// As [`connect_or_open`] and [`crate::spool::Spool::drain`]; the
    /// events then stay in the spool for the next writer or server.
    pub fn finish(mut self, lock_timeout: Duration) -> Result<Option<crate::spool::DrainReport>> {
        if self.spooled == 0 {
            return Ok(None);
        }
        let mut link = match self.link.take() {
            Some(link) => link,
            None => {
                let opts = OpenOptions { create: true, lock_timeout, ..OpenOptions::default() };
                connect_or_open(&self.dir, &opts)?.into()
            }
        };
        self.spool.drain(&mut link).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_log_schemas::EventBody;

    fn marker(label: &str) -> Event {
        Event { ts_ns: 1, id: None, body: EventBody::Marker { label: label.into(), target: None } }
    }

    /// A client whose server is gone (the other end of its socket closed).
    fn orphan_client() -> Client {
        let (ours, theirs) = UnixStream::pair().unwrap();
        drop(theirs);
        Client { reader: BufReader::new(ours.try_clone().unwrap()), writer: BufWriter::new(ours) }
    }

    #[test]
    fn a_lost_server_spools_batches_with_ids_and_finish_appends_them_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let mut w = Reconnecting::new(Appender::Remote(orphan_client()), &db, "t");
        match w.append(vec![marker("a"), marker("b")]).unwrap() {
            Delivery::Spooled { lost: Some(Error::Disconnected(_)), waiting: 2 } => {}
            other => panic!("{other:?}"),
        }
        match w.append(vec![marker("c")]).unwrap() {
            Delivery::Spooled { lost: None, waiting: 3 } => {}
            other => panic!("{other:?}"),
        }
        let spooled = crate::spool::read_lines(w.spool().path()).unwrap();
        assert_eq!(spooled.len(), 3);
        assert!(spooled.iter().all(|l| l.contains("\"id\":\"t-")), "{spooled:?}");
        // The same lines spooled again (a resend) append nothing twice.
        let copy = spooled.join("\n") + "\n";
        let report = w.finish(Duration::from_secs(1)).unwrap().unwrap();
        assert_eq!((report.appended, report.duplicates), (3, 0));
        let spool = crate::spool::Spool::for_db(&db);
        std::fs::write(spool.path(), copy).unwrap();
        let log = SharedLog::open(&db, Config::default()).unwrap();
        let again = spool.drain(&mut Appender::Direct(log.clone())).unwrap();
        assert_eq!((again.appended, again.duplicates), (0, 3));
        assert_eq!(log.head().seq, 3);
    }
}
