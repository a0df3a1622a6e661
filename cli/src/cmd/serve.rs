//! `orc-log serve`: one process owns the database; clients talk to it over a
//! Unix socket (the `orc-log-server` crate). This module adds the command
//! line and keeps the projections' checkpoints current.

use anyhow::{Context, Result, bail};
use orc_log_engine::SharedLog;
use orc_log_server::{Endpoint, OpenOptions, Runner, ServeOptions, connect_or_open, socket_path};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Serve the database to other orc-log processes.
///
/// While it runs, every command for this database (`emit`, `ingest`, `tail`,
/// `stats`, `verify`, `state`, `metrics`, `replay`, `query`, ...) goes
/// through it, so the recorder, scripts and people can use the database at
/// once. Appends from all clients are group-committed; each client is
/// answered once its events are durable. The socket is `DIR/serve.sock`
/// (mode 0600; only the same user may connect).
///
/// When the socket accepts connections it prints `ready` on stdout (and to
/// `--ready-fd`, and `READY=1` to `$NOTIFY_SOCKET` for systemd
/// `Type=notify`). A command that finds the database held by a server that
/// is still starting waits for its socket, so `orc-log serve & orc-log emit
/// ...` works without a sleep. A server started while a short command holds
/// the database waits for it (up to `--lock-timeout`). SIGINT or SIGTERM
/// stop it cleanly. Logs go to stderr (`RUST_LOG=info` for more).
///
/// `--http [ADDR]` also serves the web view (team grid, timeline, pane
/// player, time travel, SQL, metrics) and its read-only HTTP API, including
/// `/metrics` for Prometheus, and the MCP tools of `orc-log mcp` as
/// Streamable HTTP at `/mcp`, on ADDR: `HOST:PORT` with an IP address or a
/// host name (`localhost:8642`, resolved once at start), or `HOST` alone
/// for port 8642 (default 127.0.0.1:8642; port 0 picks a free one). It prints `orc-log: web view on http://ADDR/` on stderr.
/// An address other than loopback needs `--http-token`.
///
/// `--otlp [ADDR]` also receives OpenTelemetry exports of coding agents
/// (OTLP/HTTP, protobuf or JSON, gzip or not: `POST /v1/logs` and
/// `/v1/metrics`) on ADDR (default 127.0.0.1:4318, the OTLP/HTTP port; a
/// non-loopback address needs `--http-token`, which every export must then
/// carry as `Authorization: Bearer TOKEN`). Each log record and each
/// cost or token metric point becomes an `agent_usage` event on the pane of
/// the hook `SessionStart` with the same session id. It prints
/// `orc-log: OTLP receiver on http://ADDR/` on stderr. Point Claude Code at it with
/// `orc-log hook install --otel`.
///
/// Alert rules (see `orc-log alerts --help`) are loaded from `--alerts PATH`,
/// else from DIR/alerts.toml when that file exists; the rules loaded are
/// listed on stderr. A bad rule file stops the server before it starts.
///
/// The server seals by itself: a segment that reached its roll size, or had
/// no append for `--seal-idle` seconds, or is older than `--seal-age`, is
/// closed and repacked into large chunks in the background (appends wait
/// only for the switch, milliseconds), so a quiet database is compact
/// well within a minute of its last append. `orc-log seal` still seals at once.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Alert rule file (TOML) [default: DIR/alerts.toml next to the database, if present].
    #[arg(long, value_name = "PATH")]
    alerts: Option<PathBuf>,

    /// Also write the line `ready` to this inherited file descriptor once
    /// the socket accepts connections (for scripts whose stdout is taken).
    #[arg(long, value_name = "FD")]
    ready_fd: Option<u32>,
    /// Serve the web view and HTTP API on ADDR, `HOST:PORT` or `HOST`
    /// (e.g. `localhost:8642`, `[::1]:0`; `--http` alone: 127.0.0.1:8642).
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = orc_log_web::DEFAULT_ADDR,
        value_parser = parse_http_addr
    )]
    http: Option<SocketAddr>,
    /// Every HTTP request must carry this token (`Authorization: Bearer
    /// TOKEN`, or `?token=TOKEN` once, which sets a cookie); at least 16
    /// bytes. Required for a non-loopback --http or --otlp address.
    #[arg(long, env = "ORC_LOG_HTTP_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    http_token: Option<String>,
    /// Receive OTLP/HTTP exports (agents' OpenTelemetry logs and metrics)
    /// on ADDR, `HOST:PORT` or `HOST` (`--otlp` alone: 127.0.0.1:4318).
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:4318",
        value_parser = parse_otlp_addr
    )]
    otlp: Option<SocketAddr>,
    /// Close and seal the active segment after this many seconds without
    /// an append (0: never seal in the background).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    seal_idle: u64,
    /// Close and seal the active segment once its first append is this many
    /// seconds old, even while appends go on.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    seal_age: u64,
    /// Apply the retention rules (`orc-log retention set`) this often, as
    /// `orc-log compact` does (the first run a minute after start); `0s`
    /// never. Nothing happens while there are no rules.
    #[arg(long, value_name = "DUR", default_value = "10m", value_parser = super::parse_duration)]
    compact_every: Duration,
}

/// The port `--http HOST` (without a port) serves on.
const DEFAULT_HTTP_PORT: u16 = 8642;

/// The port `--otlp HOST` (without a port) listens on: OTLP/HTTP's.
const DEFAULT_OTLP_PORT: u16 = 4318;

/// clap value parser of `--otlp`: as [`parse_http_addr`], port 4318 by default.
fn parse_otlp_addr(s: &str) -> Result<SocketAddr, String> {
    parse_addr(s, DEFAULT_OTLP_PORT, "e.g. 127.0.0.1:4318, localhost:4318, [::1]:0")
}

/// clap value parser of `--http`: a socket address (`127.0.0.1:8642`,
/// `[::1]:8642`), or a host name with or without a port, resolved here
/// (`localhost:8642`, `localhost`). Of several addresses, the first IPv4 one
/// is taken (a host name's IPv6 address may not be configured).
///
/// # Errors
/// A host that does not resolve, or a malformed port, named with examples.
fn parse_http_addr(s: &str) -> Result<SocketAddr, String> {
    parse_addr(s, DEFAULT_HTTP_PORT, "e.g. 127.0.0.1:8642, localhost:8642, [::1]:0")
}

/// An address, a host name with or without a port (`port` when none).
fn parse_addr(s: &str, port: u16, examples: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let with_port = if s.contains(':') { s.to_owned() } else { format!("{s}:{port}") };
    let addrs: Vec<SocketAddr> =
        with_port.to_socket_addrs().map_err(|e| format!("cannot resolve {s:?}: {e} ({examples})"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{s:?} resolves to no address ({examples})"))
}

/// Runs `orc-log serve` until SIGINT/SIGTERM; `runner` runs clients' commands.
pub fn run(db_dir: &Path, args: Args, runner: Arc<dyn Runner>) -> Result<u8> {
    let cwd = std::env::current_dir()?;
    let rules_path = super::alerts::rules_path(db_dir, args.alerts.as_deref(), &cwd);
    let rules = if args.alerts.is_some() || rules_path.exists() {
        let rules = orc_log_alerts::Rules::load(&rules_path)?;
        eprintln!("orc-log: {} alert rules from {}", rules.rules.len(), rules_path.display());
        for line in super::alerts::describe(&rules) {
            eprintln!("orc-log:   {line}");
        }
        Some(rules)
    } else {
        None
    };
    let opts =
        OpenOptions { create: true, lock_timeout: crate::db::lock_timeout(), ..OpenOptions::default() };
    let log = match connect_or_open(db_dir, &opts)? {
        Endpoint::Direct(log) => log,
        Endpoint::Server(mut other) => {
            let who = other
                .ping()
                .map(|(pid, _)| format!("process {pid}"))
                .unwrap_or_else(|_| "another process".into());
            bail!("{who} is already serving {} on {}", db_dir.display(), socket_path(db_dir).display());
        }
    };
    if args.http_token.is_some() && args.http.is_none() && args.otlp.is_none() {
        bail!("--http-token is for --http or --otlp: give one of them, or leave the token out");
    }
    drain_spool(db_dir, &log);
    let otlp = match args.otlp {
        Some(addr) => Some(start_otlp(&log, addr, args.http_token.clone())?),
        None => None,
    };
    let web = match args.http {
        Some(addr) => Some(start_web(&log, addr, args.http_token)?),
        None => None,
    };
    let keeper = {
        let log = log.clone();
        std::thread::spawn(move || keep_projections(&log))
    };
    let sealer = (args.seal_idle > 0).then(|| {
        let log = log.clone();
        let (idle, age) = (Duration::from_secs(args.seal_idle), Duration::from_secs(args.seal_age.max(1)));
        std::thread::spawn(move || keep_sealed(&log, idle, age))
    });
    let compactor = (!args.compact_every.is_zero()).then(|| {
        let log = log.clone();
        let every = args.compact_every;
        std::thread::spawn(move || keep_compacted(&log, every))
    });
    let alerter = rules.filter(|r| !r.rules.is_empty()).map(|rules| {
        let alerter = orc_log_alerts::Alerter::new(log.clone(), rules);
        std::thread::spawn(move || {
            if let Err(e) = alerter.run(super::alerts::say_skipped_at_start) {
                tracing::error!(error = %e, "alert rules stopped");
            }
        })
    });
    let opts = ServeOptions {
        ready_stdout: true,
        ready_fd: args.ready_fd,
        notify_socket: std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty()).map(PathBuf::from),
    };
    let served = orc_log_server::serve(log.clone(), opts, runner);
    log.close();
    let _ = keeper.join();
    if let Some(c) = compactor {
        let _ = c.join();
    }
    if let Some(s) = sealer {
        let _ = s.join();
    }
    for (stop, thread) in otlp.into_iter().chain(web) {
        let _ = stop.send(());
        match thread.join() {
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "an HTTP server (web view or OTLP receiver) stopped with an error")
            }
            Ok(Ok(())) => {}
            Err(_) => tracing::warn!("an HTTP server thread panicked"),
        }
    }
    if let Some(a) = alerter {
        let _ = a.join();
    }
    served.with_context(|| format!("cannot serve {}", db_dir.display()))?;
    Ok(0)
}

/// Appends the events `orc-log hook` spooled while the database was busy
/// or missing (see `orc_log_server::spool`), before serving.
fn drain_spool(db_dir: &Path, log: &SharedLog) {
    let spool = orc_log_server::Spool::for_db(db_dir);
    if spool.is_empty() {
        return;
    }
    match spool.drain(&mut orc_log_server::Appender::Direct(log.clone())) {
        Ok(r) => eprintln!(
            "orc-log: appended {} spooled hook events from {} ({} already in the log, {} rejected)",
            r.appended,
            spool.path().display(),
            r.duplicates,
            r.rejected
        ),
        Err(e) => {
            tracing::warn!(spool = %spool.path().display(), error = %e, "cannot append the spooled hook events")
        }
    }
}

/// The web view's thread, ending with how its server ended.
type WebThread = std::thread::JoinHandle<Result<(), orc_log_web::WebError>>;

/// Binds the web view's address (so a refused or busy address fails before
/// the socket is announced) and serves it on a thread of its own until the
/// returned sender fires.
fn start_web(
    log: &SharedLog,
    addr: SocketAddr,
    token: Option<String>,
) -> Result<(tokio::sync::oneshot::Sender<()>, WebThread)> {
    let opts = orc_log_web::WebOptions { token };
    let listener = orc_log_web::bind(addr, &opts)?;
    let bound = listener.local_addr().context("the web view's address")?;
    eprintln!("orc-log: web view on http://{bound}/");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let log = log.clone();
    let thread = std::thread::Builder::new()
        .name("orc-log-web".into())
        .spawn(move || {
            orc_log_web::serve_blocking(log, listener, &opts, async move {
                let _ = stopped.await;
            })
        })
        .context("cannot start the web view's thread")?;
    Ok((stop, thread))
}

/// Binds the OTLP receiver's address (refusing a non-loopback one without
/// a token) and serves it on a thread of its own until the returned sender fires.
fn start_otlp(
    log: &SharedLog,
    addr: SocketAddr,
    token: Option<String>,
) -> Result<(tokio::sync::oneshot::Sender<()>, WebThread)> {
    orc_log_web::check_bind(addr, token.as_deref()).map_err(|e| {
        anyhow::anyhow!(
            "{}",
            e.to_string().replace("--http ", "--otlp ").replace("read the log", "write to the log")
        )
    })?;
    let router = orc_log_web::otlp::router(log.clone(), token).context("cannot start the OTLP receiver")?;
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on --otlp {addr}"))?;
    listener.set_nonblocking(true).context("the OTLP receiver's socket")?;
    let bound = listener.local_addr().context("the OTLP receiver's address")?;
    eprintln!("orc-log: OTLP receiver on http://{bound}/");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("orc-log-otlp".into())
        .spawn(move || {
            orc_log_web::serve_router_blocking(router, listener, async move {
                let _ = stopped.await;
            })
        })
        .context("cannot start the OTLP receiver's thread")?;
    Ok((stop, thread))
}

/// Keeps the projections' checkpoints current while the server runs:
/// `state` and `metrics` are brought up from their checkpoints once
/// ([`orc_log_projections::catch_up`]), then kept in memory by one follower
/// of the log, each batch folded into both with the projections' fold
/// ([`orc_log_projections::fold_batch`], which also stores the time-travel
/// checkpoints they pass), commits gathered for [`KEEP_GATHER`] once it has
/// caught up, and their checkpoints stored at most once a second after new
/// commits. `state` and `metrics` then have little to
/// catch up. A projection that fails is reported and brought up from its
/// checkpoint again at the next store. Ends when the log closes.
fn keep_projections(log: &SharedLog) {
    use orc_log_engine::{Batch, Filter};
    use orc_log_projections::{metrics::Metrics, state::State};
    let mut state = Kept::<State>::start(log);
    let mut metrics = Kept::<Metrics>::start(log);
    let from = [state.seq(), metrics.seq()].into_iter().flatten().min();
    let from = from.unwrap_or_else(|| log.head().seq) + 1;
    let mut follower = log.follow(Filter { from_seq: from, ..Filter::default() });
    let mut stored = std::time::Instant::now();
    loop {
        let due = state.unsaved() || metrics.unsaved();
        let wait = if due { STORE_EVERY.saturating_sub(stored.elapsed()) } else { Duration::from_secs(5) };
        match follower.next_batch(wait, KEEP_BATCH) {
            Ok(Batch::Closed) => return,
            Ok(Batch::Idle) => {}
            Ok(Batch::Events(batch)) => {
                state.fold(log, &batch);
                metrics.fold(log, &batch);
                // Caught up: let commits gather before reading again, so a
                // writer committing a few events at a time is read in
                // batches (one snapshot and scan each), not per commit.
                if batch.len() < KEEP_BATCH && log.wait_for_stop(KEEP_GATHER) {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the projection keeper cannot read the log");
                if log.wait_for_stop(Duration::from_secs(5)) {
                    return;
                }
            }
        }
        if stored.elapsed() >= STORE_EVERY {
            state.store(log);
            metrics.store(log);
            stored = std::time::Instant::now();
        }
    }
}

/// Shortest time between two checkpoint stores of the projection keeper.
const STORE_EVERY: Duration = Duration::from_secs(1);
/// Events the projection keeper folds at most at once.
const KEEP_BATCH: usize = 2048;
/// How long the projection keeper lets commits gather after catching up:
/// its checkpoints are stored at most once a [`STORE_EVERY`] anyway.
const KEEP_GATHER: Duration = Duration::from_millis(250);

/// A projection the keeper holds: its state and last seq folded (none
/// until it is brought up from its checkpoint), and the seq of the
/// checkpoint it stored last.
struct Kept<P> {
    folded: Option<(P, u64)>,
    saved: u64,
}

impl<P: orc_log_projections::Projection> Kept<P> {
    /// `P` brought up from its checkpoint to the head (stored there).
    fn start(log: &SharedLog) -> Self {
        let mut kept = Self { folded: None, saved: 0 };
        kept.catch_up(log);
        kept
    }

    fn catch_up(&mut self, log: &SharedLog) {
        match orc_log_projections::catch_up::<P>(log) {
            Ok(o) => {
                self.saved = o.seq;
                self.folded = Some((o.projection, o.seq));
            }
            Err(e) => tracing::warn!(projection = P::NAME, error = %e, "cannot keep the projection current"),
        }
    }

    /// Folds the events of `batch` it has not seen, storing the time-travel
    /// checkpoints it passes; on an error it is dropped (brought up again
    /// at the next store).
    fn fold(&mut self, log: &SharedLog, batch: &[(orc_log_engine::EventMeta, orc_log_schemas::Record)]) {
        let Some((p, seq)) = &mut self.folded else { return };
        let folded = orc_log_projections::fold_batch(p, *seq, batch, |p, meta| {
            orc_log_projections::save_history_if_due(log, p, meta.seq)
        });
        match folded {
            Ok(last) => *seq = last,
            Err(e) => {
                tracing::warn!(projection = P::NAME, error = %e, "cannot keep the projection current");
                self.folded = None;
            }
        }
    }

    /// The last seq folded (none until brought up).
    fn seq(&self) -> Option<u64> {
        self.folded.as_ref().map(|(_, seq)| *seq)
    }

    /// Whether it folded events its checkpoint does not hold yet.
    fn unsaved(&self) -> bool {
        self.folded.as_ref().is_some_and(|(_, seq)| *seq > self.saved)
    }

    /// Stores its checkpoint when it is behind (durable when stored), or
    /// brings it up again after a failure.
    fn store(&mut self, log: &SharedLog) {
        match &self.folded {
            None => self.catch_up(log),
            Some((p, seq)) if *seq > self.saved => match orc_log_projections::save(log, p, *seq) {
                Ok(()) => self.saved = *seq,
                Err(e) => {
                    tracing::warn!(projection = P::NAME, error = %e, "cannot store the projection's checkpoint")
                }
            },
            Some(_) => {}
        }
    }
}

/// Runs `step` until the log closes: first after `first`, then every
/// `tick`. What a step did (`Some`) is logged as info; an error is logged
/// once (until it changes) and the step retried at the next tick.
fn in_background(
    log: &SharedLog,
    first: Duration,
    tick: Duration,
    what: &str,
    mut step: impl FnMut() -> anyhow::Result<Option<String>>,
) {
    let mut wait = first;
    let mut last_error = String::new();
    while !log.wait_for_stop(wait) {
        wait = tick;
        match step() {
            Ok(done) => {
                last_error.clear();
                if let Some(done) = done {
                    tracing::info!("{what} in the background: {done}");
                }
            }
            Err(e) => {
                let e = format!("{e:#}");
                if e != last_error {
                    tracing::warn!(error = %e, "background {what} failed; retrying");
                    last_error = e;
                }
            }
        }
    }
}

/// Applies the retention rules in the background while the server runs:
/// the first time a minute after start (or `every`, if shorter), then every
/// `every` ([`super::compact::apply`]); rules are read afresh each time, so
/// `retention set` needs no restart. Ends when the log closes.
fn keep_compacted(log: &SharedLog, every: Duration) {
    in_background(log, every.min(Duration::from_secs(60)), every, "compaction", || {
        let Some(rules) = orc_log_engine::retention::Rules::load(log.dir())? else { return Ok(None) };
        let plan = super::compact::plan(log, &rules)?;
        if plan.cutoff.is_none() {
            return Ok(None);
        }
        let (r, warning) = super::compact::apply(log, &plan, &mut |_, _| {})?;
        if let Some(w) = warning {
            tracing::warn!(warning = %w, "background compaction");
        }
        Ok(Some(format!(
            "{} bodies expired in {} segments, {} -> {} bytes",
            r.expired, r.segments, r.bytes_before, r.bytes_after
        )))
    });
}

/// Seals in the background while the server runs: every few seconds,
/// closes the active segment when it is idle for `idle` or older than `age`,
/// then seals the closed segments off the writer
/// ([`SharedLog::seal_if_due`]). Ends when the log closes.
fn keep_sealed(log: &SharedLog, idle: Duration, age: Duration) {
    // Short, so a segment the roll size closed is sealed within a second.
    let tick = (idle / 4).clamp(Duration::from_millis(250), Duration::from_secs(1));
    in_background(log, tick, tick, "sealing", || {
        let r = log.seal_if_due(idle, age)?;
        Ok((r.segments > 0).then(|| {
            format!(
                "{} segments, {} events, {} -> {} bytes",
                r.segments, r.events, r.bytes_before, r.bytes_after
            )
        }))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_addresses_take_host_names_and_default_the_port() {
        assert_eq!(parse_http_addr("127.0.0.1:9000"), Ok("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(parse_http_addr("[::1]:0"), Ok("[::1]:0".parse().unwrap()));
        assert_eq!(parse_http_addr("127.0.0.1"), Ok("127.0.0.1:8642".parse().unwrap()));
        let local = parse_http_addr("localhost:9001").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 9001, "{local}");
        assert_eq!(parse_http_addr("localhost").map(|a| a.port()), Ok(8642));
        let err = parse_http_addr("localhost:http-port").unwrap_err();
        assert!(err.contains("\"localhost:http-port\"") && err.contains("e.g."), "{err}");
        assert!(parse_http_addr("no-such-host.invalid:80").is_err());
    }
}
