//! orc-log's web view: a read-only HTTP API and a browser UI (team grid,
//! timeline, pane player, time travel, SQL, metrics), served by `orc-log
//! serve --http ADDR` beside the Unix socket.
//!
//! The UI is plain HTML, CSS and JavaScript compiled into the binary
//! ([`assets`]); it loads nothing from elsewhere, and a strict
//! Content-Security-Policy forbids inline script, so captured text can only
//! ever be shown as text (the UI builds it with `textContent`).
//!
//! The web view only reads the log: every route is `GET`, except `/mcp`, the
//! MCP tools of `orc-log-mcp` as Streamable HTTP (JSON-RPC `POST`s, which
//! read too). The one writer here is [`otlp`], the OTLP/HTTP receiver, served
//! on an address of its own (`serve --otlp`). It never parses command lines
//! (that is the binary's business).

pub mod api;
pub mod assets;
pub mod auth;
pub mod live;
pub mod otlp;
pub mod report;
pub mod team;

pub use auth::{BindError, check_bind, generate_token};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use orc_log_engine::SharedLog;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

/// The address `--http` alone binds.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8642";

/// The Content-Security-Policy of every response that sets none of its own:
/// only this origin's own script, style and connections; no inline script,
/// no plugins, no framing. (A report sets the stricter [`REPORT_CSP`].)
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The Content-Security-Policy of a report (`/api/panes/{target}/report`):
/// its inline `<style>` and colour spans, nothing else: no script, no
/// request to anywhere, no form, no framing.
pub const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How long open connections get to finish once the web view is told to stop.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Why the web view stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The address was refused (see [`check_bind`]).
    #[error(transparent)]
    Bind(#[from] BindError),
    /// Listening or serving failed.
    #[error("web view on {addr}: {source}")]
    Io {
        /// The address.
        addr: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// How to serve the web view.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Every request must carry this token (see [`auth`]); `None` for none.
    pub token: Option<String>,
}

/// The router: the API, `/metrics`, the UI's assets, the token check (when
/// a token is set) and the security headers on every response.
pub fn router(log: SharedLog, opts: &WebOptions) -> Router {
    let token: Option<Arc<str>> = opts.token.as_deref().map(Arc::from);
    // MCP's Streamable HTTP (POST and GET), behind the same token. With a
    // token any Host may ask; without one only loopback names (DNS rebinding).
    let mcp = orc_log_mcp::http_service(Arc::new(log.clone()), token.is_some());
    let app = api::App::new(log);
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    api::routes(app)
        .merge(assets::routes())
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(token, auth::require_token))
        // A handler may set a stricter policy of its own (the report's).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(HeaderName::from_static("cross-origin-resource-policy"), "same-origin"))
}

/// Binds `addr` (refusing a non-loopback one without a token) so that
/// errors show before the server announces itself. `127.0.0.1:0` picks a free port.
///
/// # Errors
/// [`WebError::Bind`], or [`WebError::Io`] when the address cannot be bound.
pub fn bind(addr: SocketAddr, opts: &WebOptions) -> Result<std::net::TcpListener, WebError> {
    check_bind(addr, opts.token.as_deref())?;
    let io = |source| WebError::Io { addr: addr.to_string(), source };
    let listener = std::net::TcpListener::bind(addr).map_err(io)?;
    listener.set_nonblocking(true).map_err(io)?;
    Ok(listener)
}

/// Serves the web view for `log` on `listener` until `shutdown` completes,
/// on a small runtime of its own (one worker thread; queries and scans run
/// on its blocking pool). Open event streams end when the log stops its
/// followers or closes.
///
/// # Errors
/// [`WebError::Io`] when the runtime cannot start or serving fails.
pub fn serve_blocking(
    log: SharedLog,
    listener: std::net::TcpListener,
    opts: &WebOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    serve_router_blocking(router(log, opts), listener, shutdown)
}

/// Serves `router` on `listener` until `shutdown` completes, on a small
/// runtime of its own (one worker thread, and its blocking pool), as
/// [`serve_blocking`] does for the web view (the OTLP receiver uses it too).
///
/// # Errors
/// [`WebError::Io`] when the runtime cannot start or serving fails.
pub fn serve_router_blocking(
    router: Router,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let io = |source| WebError::Io { addr: addr.clone(), source };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("orc-log-web")
        .enable_all()
        .build()
        .map_err(io)?;
    let served = rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let serving = axum::serve(listener, router).with_graceful_shutdown(stopped(stop_rx.clone()));
        // Connections get a moment to finish; open event streams are cut.
        tokio::select! {
            served = serving => served,
            () = async { stopped(stop_rx).await; tokio::time::sleep(STOP_GRACE).await } => Ok(()),
        }
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    served.map_err(io)
}
