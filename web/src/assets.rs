//! The UI's files, compiled into the binary (no CDN, no build step on the
//! user's machine). They are hand-written HTML, CSS and JavaScript: editing
//! `web/assets/*` and rebuilding the binary is all it takes.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// `index.html`: the one page; the UI switches views by the URL's `#` part.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");
/// `app.js`: the UI.
pub const APP_JS: &str = include_str!("../assets/app.js");
/// `style.css`.
pub const STYLE_CSS: &str = include_str!("../assets/style.css");

fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

/// `/`, `/index.html`, `/app.js`, `/style.css`.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(|| async { file("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/index.html", get(|| async { file("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/app.js", get(|| async { file("text/javascript; charset=utf-8", APP_JS) }))
        .route("/style.css", get(|| async { file("text/css; charset=utf-8", STYLE_CSS) }))
}
