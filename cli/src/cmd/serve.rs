//! `orc-log serve`: one process owns the database; clients talk to it over a
//! Unix socket (protocol in `wire`).

use crate::client::socket_path;
use crate::ctx::{Db, Io};
use crate::wire::{Envelope, MAX_FRAME_BYTES, PROTOCOL_VERSION, Request, Response};
use crate::{Cli, Command, db, render};
use anyhow::{Context, Result, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use orc_log_engine::AppendReceipt;
use orc_log_schemas::Event;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Serve the database to other orc-log processes.
///
/// While it runs, every command for this database (`emit`, `ingest`, `tail`,
/// `stats`, `verify`, `state`, `metrics`, `replay`) goes through it, so the
/// recorder, scripts and people can use the database at once. Appends from
/// all clients are group-committed; each client is answered once its events
/// are durable. The socket is `DIR/serve.sock` (mode 0600; only the same user
/// may connect). SIGINT or SIGTERM stop it cleanly. Logs go to stderr
/// (`RUST_LOG=info` for more).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Events committed together at most (one group commit).
const MAX_GROUP_EVENTS: usize = 65_536;
/// Append requests waiting for the writer at most; more wait in their
/// clients (back-pressure).
const QUEUE_REQUESTS: usize = 256;

struct AppendJob {
    events: Vec<Event>,
    reply: oneshot::Sender<Result<AppendReceipt, String>>,
}

/// Runs `orc-log serve` until SIGINT/SIGTERM.
pub fn run(db_dir: &Path, _args: Args) -> Result<u8> {
    if let Some(mut other) = crate::client::Client::connect(db_dir)? {
        let who = other
            .ping()
            .map(|(pid, _)| format!("process {pid}"))
            .unwrap_or_else(|_| "another process".into());
        bail!("{who} is already serving {} on {}", db_dir.display(), socket_path(db_dir).display());
    }
    let log = db::open_for_write(db_dir)?;
    let db = Db::new(log);
    let sock = socket_path(db_dir);
    if let Some(parent) = sock.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if sock.exists() {
        // We hold the database lock, so no server of this database can be
        // listening; still, only remove a socket nothing answers on.
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            bail!("something is answering on {}; not removing it", sock.display());
        }
        std::fs::remove_file(&sock)
            .with_context(|| format!("cannot remove stale socket {}", sock.display()))?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = rt.block_on(serve(db.clone(), sock.clone()));
    let _ = std::fs::remove_file(&sock);
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    result
}

async fn serve(db: Db, sock: PathBuf) -> Result<u8> {
    let listener =
        UnixListener::bind(&sock).with_context(|| format!("cannot listen on {}", sock.display()))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot chmod {}", sock.display()))?;
    let (tx, rx) = mpsc::channel::<AppendJob>(QUEUE_REQUESTS);
    let writer_db = db.clone();
    let writer = std::thread::spawn(move || writer_loop(&writer_db, rx));
    let keeper_db = db.clone();
    std::thread::spawn(move || keep_projections(&keeper_db));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    eprintln!("orc-log: serving {} on {} (pid {})", db.dir().display(), sock.display(), std::process::id());
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, db.clone(), tx.clone(), stop_rx.clone()));
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
    db.close();
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(10), drain).await.is_err() {
        tracing::warn!("some connections did not finish within 10 s");
        conns.abort_all();
    }
    drop(tx);
    // The writer drains every queued append, then ends.
    tokio::task::spawn_blocking(move || writer.join()).await.ok();
    db.write(|log| log.sync()).context("final flush failed")?;
    eprintln!("orc-log: server stopped");
    Ok(0)
}

/// Keeps the projections' checkpoints current while the server runs: at most
/// once a second after new commits, each projection is folded forward from
/// its checkpoint under the shared lock (appends go on), and only the new
/// checkpoint is written under the exclusive one. `state` and `metrics` then
/// have little to catch up.
fn keep_projections(db: &Db) {
    use orc_log_projections::{Projection, metrics::Metrics, save, state::State, view_at};
    fn advance<P: Projection>(db: &Db, head: u64) {
        let folded = db.read(|log| view_at::<P>(log, head));
        let result = match folded {
            Ok(out) if out.applied > 0 => db.write(|log| save(log, &out.projection, out.seq)),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(projection = P::NAME, error = %e, "cannot keep the projection current");
        }
    }
    let mut done = 0;
    loop {
        let head = db.read(|log| log.head().seq);
        if head > done {
            advance::<State>(db, head);
            advance::<Metrics>(db, head);
            done = head;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
        if db.wait_for_head(done, std::time::Duration::from_secs(5)).is_none() {
            return;
        }
    }
}

/// Group commit: take every queued append (up to a limit), commit them in one
/// append, answer each client with its own receipt.
fn writer_loop(db: &Db, mut rx: mpsc::Receiver<AppendJob>) {
    while let Some(first) = rx.blocking_recv() {
        let mut total = first.events.len();
        let mut jobs = vec![first];
        while total < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(j) => {
                    total += j.events.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let groups: Vec<&[Event]> = jobs.iter().map(|j| j.events.as_slice()).collect();
        match db.write(|log| log.append_groups(&groups)) {
            Ok(receipts) => {
                for (job, r) in jobs.into_iter().zip(receipts) {
                    let _ = job.reply.send(Ok(r));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                for job in jobs {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

fn encode(resp: Response) -> tokio_util::bytes::Bytes {
    let v = serde_json::to_vec(&Envelope { v: PROTOCOL_VERSION, body: resp }).unwrap_or_default();
    tokio_util::bytes::Bytes::from(v)
}

async fn connection(
    stream: UnixStream,
    db: Db,
    tx: mpsc::Sender<AppendJob>,
    mut stop: watch::Receiver<bool>,
) {
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
                let _ = framed.send(encode(Response::Error { message: format!("bad frame: {e}") })).await;
                break;
            }
        };
        let req: Envelope<Request> = match serde_json::from_slice(&frame) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "malformed request");
                let msg = Response::Error { message: format!("malformed request: {e}") };
                if framed.send(encode(msg)).await.is_err() {
                    break;
                }
                continue;
            }
        };
        if req.v != PROTOCOL_VERSION {
            let message =
                format!("protocol {} is not supported; this server speaks {PROTOCOL_VERSION}", req.v);
            let _ = framed.send(encode(Response::Error { message })).await;
            break;
        }
        let ok = match req.body {
            Request::Ping => framed
                .send(encode(Response::Pong { pid: std::process::id(), db: db.dir().to_owned() }))
                .await
                .is_ok(),
            Request::SeqOfId { id } => {
                let lookup = db.clone();
                let resp =
                    match tokio::task::spawn_blocking(move || lookup.read(|log| log.seq_of_id(&id))).await {
                        Ok(Ok(seq)) => Response::Seq { seq },
                        Ok(Err(e)) => Response::Error { message: e.to_string() },
                        Err(e) => Response::Error { message: e.to_string() },
                    };
                framed.send(encode(resp)).await.is_ok()
            }
            Request::Append { events } => {
                let (reply, wait) = oneshot::channel();
                let resp = if tx.send(AppendJob { events, reply }).await.is_err() {
                    Response::Error { message: "the server is stopping".into() }
                } else {
                    match wait.await {
                        Ok(Ok(receipt)) => Response::Appended { receipt },
                        Ok(Err(message)) => Response::Error { message },
                        Err(_) => Response::Error { message: "the server is stopping".into() },
                    }
                };
                framed.send(encode(resp)).await.is_ok()
            }
            Request::Exec { args, cwd } => {
                let (otx, mut orx) = mpsc::channel::<Response>(64);
                let exec_db = db.clone();
                let task = tokio::task::spawn_blocking(move || exec(&exec_db, args, cwd, otx));
                let mut ok = true;
                loop {
                    tokio::select! {
                        resp = orx.recv() => match resp {
                            Some(resp) => {
                                if framed.send(encode(resp)).await.is_err() {
                                    ok = false;
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
        };
        if !ok {
            break;
        }
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

/// Runs one read command for a client.
fn exec(db: &Db, args: Vec<String>, cwd: PathBuf, tx: mpsc::Sender<Response>) {
    let mut out = ChanWriter { tx: tx.clone(), buf: Vec::new(), stderr: false };
    let mut err = ChanWriter { tx: tx.clone(), buf: Vec::new(), stderr: true };
    let code = match Cli::try_parse_from(std::iter::once("orc-log".to_owned()).chain(args)) {
        Err(e) => {
            let _ = write!(err, "{}", e.render());
            2
        }
        Ok(cli) => match cli.command {
            Command::Session(ref a) if a.is_record() => {
                let _ =
                    writeln!(err, "orc-log: session record runs in its own process, not inside the server");
                2
            }
            Command::Ingest(_)
            | Command::Emit(_)
            | Command::Serve(_)
            | Command::Restore(_)
            | Command::Demo(_) => {
                let _ = writeln!(err, "orc-log: this command cannot run inside the server");
                2
            }
            command => {
                let mut io = Io { out: &mut out, err: &mut err, cwd, served: true };
                match crate::run_read(db, command, &mut io) {
                    Ok(code) => code,
                    Err(e) if crate::is_broken_pipe(&e) => return,
                    Err(e) => {
                        let _ = writeln!(io.err, "orc-log: {}", render::error_chain(&e));
                        1
                    }
                }
            }
        },
    };
    let _ = out.flush();
    let _ = err.flush();
    let _ = tx.blocking_send(Response::Exit { code });
}
