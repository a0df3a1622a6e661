//! The server loop: one process owns a database; clients talk to it over a
//! Unix socket (protocol in [`crate::wire`], `docs/PROTOCOL.md`).

use crate::client::{Client, socket_path};
use crate::error::{Error, Result};
use crate::wire::{Envelope, ErrorCode, MAX_FRAME_BYTES, PROTOCOL_VERSION, RemoteError, Request, Response};
use futures_util::{SinkExt, StreamExt};
use orc_log_engine::SharedLog;
use orc_log_schemas::{Event, now_ns, parse_value};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Append requests being committed at most; more wait in their clients
/// (back-pressure).
const MAX_APPENDS_IN_FLIGHT: usize = 256;

/// How long connections get to finish the request in hand at shutdown.
const DRAIN_SECS: u64 = 10;

/// Runs one command for a client: the command line's business, supplied by
/// the binary, so this crate knows nothing of it.
pub trait Runner: Send + Sync + 'static {
    /// Runs `args` (without the program name) against `log` as if in `cwd`,
    /// writing to `out` and `err`; returns the exit status. Called on a
    /// blocking thread; `out` fails with `BrokenPipe` once the client is gone.
    fn run(
        &self,
        log: &SharedLog,
        args: Vec<String>,
        cwd: PathBuf,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> u8;
}

/// How the server announces that it is ready (its socket accepts
/// connections).
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Print one line `ready` on stdout.
    pub ready_stdout: bool,
    /// Also write `ready\n` to this inherited file descriptor (for scripts
    /// whose stdout is taken), opened through `/dev/fd/N`.
    pub ready_fd: Option<u32>,
    /// Send `READY=1` to this systemd notification socket (`$NOTIFY_SOCKET`
    /// for `Type=notify` units; a leading `@` names an abstract socket).
    pub notify_socket: Option<PathBuf>,
}

/// Serves `log` on its socket ([`socket_path`]) until SIGINT or SIGTERM,
/// then drains: stops accepting, removes the socket, lets each connection
/// finish the request in hand (10 s at most), closes `log` (queued appends
/// are still committed) and syncs it.
///
/// **Durability:** every append a client was told about is durable (it
/// was answered only after its group commit).
///
/// # Errors
/// [`Error::AlreadyServing`] when another server answers on the socket;
/// [`Error::Io`] when the socket cannot be bound; engine errors from the
/// final sync.
pub fn serve(log: SharedLog, opts: ServeOptions, runner: Arc<dyn Runner>) -> Result<()> {
    let sock = socket_path(log.dir());
    if let Some(mut other) = Client::connect(log.dir())? {
        let (pid, db) = other.ping()?;
        return Err(Error::AlreadyServing { pid, db, socket: sock });
    }
    if let Some(parent) = sock.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| Error::io("create", parent, e))?;
    }
    if sock.exists() {
        // We hold the database lock, so no server of this database is
        // listening (connect just failed): the socket is stale.
        std::fs::remove_file(&sock).map_err(|e| Error::io("remove the stale socket", &sock, e))?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("start the async runtime for", &sock, e))?;
    let result = rt.block_on(serve_on(log.clone(), sock.clone(), opts, runner));
    let _ = std::fs::remove_file(&sock);
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    result?;
    log.sync()?;
    Ok(())
}

/// Announces readiness as `opts` asks; failures are logged, not fatal.
fn announce_ready(opts: &ServeOptions) {
    if opts.ready_stdout {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "ready").and_then(|()| out.flush());
    }
    if let Some(fd) = opts.ready_fd {
        let path = format!("/dev/fd/{fd}");
        let written =
            std::fs::OpenOptions::new().write(true).open(&path).and_then(|mut f| f.write_all(b"ready\n"));
        if let Err(e) = written {
            tracing::warn!(fd, error = %e, "cannot write the ready line to --ready-fd");
        }
    }
    if let Some(path) = &opts.notify_socket
        && let Err(e) = notify_systemd(path)
    {
        tracing::warn!(socket = %path.display(), error = %e, "cannot notify systemd");
    }
}

/// `sd_notify(0, "READY=1")`: one datagram to the notification socket
/// (sd_notify(3); `@name` is an abstract socket).
fn notify_systemd(path: &Path) -> std::io::Result<()> {
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    let text = path.as_os_str().as_encoded_bytes();
    if let Some(name) = text.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(b"READY=1", &addr)?;
    } else {
        sock.send_to(b"READY=1", path)?;
    }
    Ok(())
}

async fn serve_on(log: SharedLog, sock: PathBuf, opts: ServeOptions, runner: Arc<dyn Runner>) -> Result<()> {
    let listener = UnixListener::bind(&sock).map_err(|e| Error::io("listen on", &sock, e))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io("chmod", &sock, e))?;
    let appends = Arc::new(Semaphore::new(MAX_APPENDS_IN_FLIGHT));
    let (stop_tx, stop_rx) = watch::channel(false);
    let signal =
        |kind| tokio::signal::unix::signal(kind).map_err(|e| Error::io("catch signals for", &sock, e));
    let mut sigint = signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut sigterm = signal(tokio::signal::unix::SignalKind::terminate())?;
    eprintln!("orc-log: serving {} on {} (pid {})", log.dir().display(), sock.display(), std::process::id());
    announce_ready(&opts);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let conn = Conn { log: log.clone(), appends: Arc::clone(&appends), runner: Arc::clone(&runner) };
                    conns.spawn(conn.serve(stream, stop_rx.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    // Stop accepting; let connections finish the request in hand.
    drop(listener);
    let _ = std::fs::remove_file(&sock);
    let _ = stop_tx.send(true);
    log.stop_followers();
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(DRAIN_SECS), drain).await.is_err() {
        tracing::warn!("some connections did not finish within {DRAIN_SECS} s");
        conns.abort_all();
    }
    log.close();
    eprintln!("orc-log: server stopped");
    Ok(())
}

/// A response's frame body ([`crate::wire::encode_body`]); one that cannot
/// be encoded (over the frame limit) is answered with an error saying so,
/// never with an empty frame.
fn encode(resp: Response) -> tokio_util::bytes::Bytes {
    let body = crate::wire::encode_body(resp).or_else(|e| {
        crate::wire::encode_body(RemoteError::other(
            ErrorCode::Internal,
            format!("the answer cannot be sent: {e}"),
        ))
    });
    tokio_util::bytes::Bytes::from(
        body.unwrap_or_else(|_| br#"{"v":1,"type":"error","message":"the answer cannot be sent"}"#.to_vec()),
    )
}

/// What one connection needs.
struct Conn {
    log: SharedLog,
    appends: Arc<Semaphore>,
    runner: Arc<dyn Runner>,
}

/// Parses the events of an `append` request with `ingest`'s rules; the
/// error names the event as the engine does for a library append.
fn parse_events(values: Vec<serde_json::Value>) -> std::result::Result<Vec<Event>, orc_log_engine::Error> {
    let now = now_ns();
    values
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            parse_value(v, now).map_err(|source| orc_log_engine::Error::InvalidEvent { index, source })
        })
        .collect()
}

impl Conn {
    async fn serve(self, stream: UnixStream, mut stop: watch::Receiver<bool>) {
        let me = rustix::process::getuid().as_raw();
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == me => {}
            Ok(cred) => {
                tracing::warn!(uid = cred.uid(), "refused a client of another user");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the client's credentials");
                return;
            }
        }
        let codec = LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME_BYTES).new_codec();
        let mut framed = Framed::new(stream, codec);
        loop {
            let frame = tokio::select! {
                f = framed.next() => f,
                _ = stop.changed() => break,
            };
            let frame = match frame {
                None => break,
                Some(Ok(f)) => f,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "bad frame from a client; closing its connection");
                    let _ = framed
                        .send(encode(RemoteError::other(ErrorCode::BadRequest, format!("bad frame: {e}"))))
                        .await;
                    break;
                }
            };
            let req: Envelope<Request> = match serde_json::from_slice(&frame) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "malformed request");
                    let msg = RemoteError::other(ErrorCode::BadRequest, format!("malformed request: {e}"));
                    if framed.send(encode(msg)).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            if req.v != PROTOCOL_VERSION {
                let message =
                    format!("protocol {} is not supported; this server speaks {PROTOCOL_VERSION}", req.v);
                let _ = framed.send(encode(RemoteError::other(ErrorCode::BadRequest, message))).await;
                break;
            }
            let ok = match req.body {
                Request::Ping => framed
                    .send(encode(Response::Pong { pid: std::process::id(), db: self.log.dir().to_owned() }))
                    .await
                    .is_ok(),
                Request::SeqOfId { id } => {
                    let snap = self.log.snapshot();
                    let resp = match tokio::task::spawn_blocking(move || snap.seq_of_id(&id)).await {
                        Ok(Ok(seq)) => Response::Seq { seq },
                        Ok(Err(e)) => RemoteError::response(&e),
                        Err(e) => RemoteError::other(ErrorCode::Internal, e.to_string()),
                    };
                    framed.send(encode(resp)).await.is_ok()
                }
                Request::Append { events } => {
                    let resp = self.append(events).await;
                    framed.send(encode(resp)).await.is_ok()
                }
                Request::Exec { args, cwd } => self.exec(&mut framed, args, cwd).await,
            };
            if !ok {
                break;
            }
        }
    }

    /// Checks and appends one request's events; answers once durable.
    async fn append(&self, events: Vec<serde_json::Value>) -> Response {
        let Ok(_permit) = self.appends.acquire().await else {
            return RemoteError::other(ErrorCode::Stopping, "the server is stopping");
        };
        let log = self.log.clone();
        let done = tokio::task::spawn_blocking(move || log.append(parse_events(events)?)).await;
        match done {
            Ok(Ok(receipt)) => Response::Appended { receipt },
            Ok(Err(e)) => RemoteError::response(&e),
            Err(e) => RemoteError::other(ErrorCode::Internal, format!("the append failed: {e}")),
        }
    }

    /// Runs a command, relaying its output; false when the client went away.
    async fn exec(
        &self,
        framed: &mut Framed<UnixStream, LengthDelimitedCodec>,
        args: Vec<String>,
        cwd: PathBuf,
    ) -> bool {
        let (otx, mut orx) = mpsc::channel::<Response>(64);
        let (log, runner) = (self.log.clone(), Arc::clone(&self.runner));
        let task = tokio::task::spawn_blocking(move || run_command(&*runner, &log, args, cwd, otx));
        let mut ok = true;
        loop {
            tokio::select! {
                // Output first: a client that got `Exit` may send its next
                // request at once, which must not be taken for "went away".
                biased;
                resp = orx.recv() => match resp {
                    Some(resp) => {
                        let last = matches!(resp, Response::Exit { .. });
                        if framed.send(encode(resp)).await.is_err() {
                            ok = false;
                            break;
                        }
                        // `Exit` is the command's last word; the client's next
                        // frame is its next request, read by the caller.
                        if last {
                            break;
                        }
                    }
                    None => break,
                },
                // A client sends nothing while its command runs: anything
                // (EOF above all: the client went away) ends the command,
                // whose next write then fails, even if it prints nothing
                // for a long time (`tail --follow`).
                _ = framed.next() => {
                    ok = false;
                    break;
                }
            }
        }
        drop(orx);
        let _ = task.await;
        ok
    }
}

/// A `Write` that sends text to a client as `out`/`err` responses.
struct ChanWriter {
    tx: mpsc::Sender<Response>,
    buf: Vec<u8>,
    stderr: bool,
}

impl ChanWriter {
    fn send_text(&mut self) -> std::io::Result<()> {
        // Send whole UTF-8 characters only; keep a split one for the next send.
        let valid = match std::str::from_utf8(&self.buf) {
            Ok(s) => s.len(),
            Err(e) => e.valid_up_to(),
        };
        if valid == 0 {
            return if self.tx.is_closed() { Err(std::io::ErrorKind::BrokenPipe.into()) } else { Ok(()) };
        }
        let rest = self.buf.split_off(valid);
        let data = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf = rest;
        let resp = if self.stderr { Response::Err { data } } else { Response::Out { data } };
        self.tx.blocking_send(resp).map_err(|_| std::io::ErrorKind::BrokenPipe.into())
    }
}

impl Write for ChanWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.send_text()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_text()
    }
}

/// Runs one command for a client through `runner`, then sends its exit status.
fn run_command(
    runner: &dyn Runner,
    log: &SharedLog,
    args: Vec<String>,
    cwd: PathBuf,
    tx: mpsc::Sender<Response>,
) {
    let mut out = ChanWriter { tx: tx.clone(), buf: Vec::new(), stderr: false };
    let mut err = ChanWriter { tx: tx.clone(), buf: Vec::new(), stderr: true };
    let code = runner.run(log, args, cwd, &mut out, &mut err);
    let _ = out.flush();
    let _ = err.flush();
    let _ = tx.blocking_send(Response::Exit { code });
}
