//! Access control: which addresses may be bound, and the token every request
//! must carry when one is set (`Authorization: Bearer TOKEN`, `?token=TOKEN`,
//! or the cookie a `?token=` request sets, so the page's own asset and
//! EventSource requests carry it too). Tokens are compared in constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The cookie that carries the token after a `?token=` request.
pub const COOKIE: &str = "orc_log_token";

/// Shortest accepted token, in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;

/// Why an address or token is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// A non-loopback address without a token.
    #[error(
        "--http {addr} is not a loopback address: anyone who can reach it could read the log, so it needs --http-token TOKEN (e.g. --http-token {suggestion})"
    )]
    NeedsToken {
        /// The address asked for.
        addr: SocketAddr,
        /// A freshly generated token the user may pass.
        suggestion: String,
    },
    /// A token too short to resist guessing.
    #[error("--http-token must be at least {MIN_TOKEN_BYTES} bytes long (it is {0})")]
    ShortToken(usize),
}

/// 32 random bytes as hex, for a suggested token (from the kernel's
/// random source; a time-based value if that cannot be read).
pub fn generate_token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        let t = orc_log_schemas::now_ns().to_le_bytes();
        bytes[..8].copy_from_slice(&t);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `addr` may be bound with `token`: loopback addresses need
/// none; any other address needs one (of at least [`MIN_TOKEN_BYTES`]).
///
/// # Errors
/// [`BindError::NeedsToken`] (with a generated token to suggest) or
/// [`BindError::ShortToken`].
pub fn check_bind(addr: SocketAddr, token: Option<&str>) -> Result<(), BindError> {
    match token {
        Some(t) if t.len() < MIN_TOKEN_BYTES => Err(BindError::ShortToken(t.len())),
        Some(_) => Ok(()),
        None if addr.ip().is_loopback() => Ok(()),
        None => Err(BindError::NeedsToken { addr, suggestion: generate_token() }),
    }
}

/// The token a request carries, from the header, the query or the cookie.
fn carried<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<(&'a str, bool)> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some((t.trim(), false));
    }
    if let Some(t) = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token="))) {
        return Some((t, true));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('=')))
        .map(|t| (t, false))
}

/// Middleware: passes requests carrying `token` (when one is set), answers
/// 401 otherwise. A valid `?token=` sets the cookie for later requests.
pub async fn require_token(State(token): State<Option<Arc<str>>>, req: Request, next: Next) -> Response {
    let Some(token) = token else { return next.run(req).await };
    let given = carried(req.headers(), req.uri().query()).map(|(t, q)| (t.to_owned(), q));
    match given {
        Some((t, from_query)) if bool::from(t.as_bytes().ct_eq(token.as_bytes())) => {
            let mut resp = next.run(req).await;
            if from_query
                && let Ok(v) =
                    HeaderValue::from_str(&format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict"))
            {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "orc-log: this web view needs its token (Authorization: Bearer TOKEN, or ?token=TOKEN)\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loopback_needs_no_token_other_addresses_do() {
        assert!(check_bind("127.0.0.1:8642".parse().unwrap(), None).is_ok());
        assert!(check_bind("[::1]:8642".parse().unwrap(), None).is_ok());
        let err = check_bind("0.0.0.0:8642".parse().unwrap(), None).unwrap_err();
        let BindError::NeedsToken { suggestion, .. } = &err else { panic!("{err}") };
        assert_eq!(suggestion.len(), 64);
        assert!(err.to_string().contains("--http-token"));
        assert!(check_bind("0.0.0.0:8642".parse().unwrap(), Some("short")).is_err());
        assert!(check_bind("0.0.0.0:8642".parse().unwrap(), Some(&generate_token())).is_ok());
    }

    #[test]
    fn token_comes_from_header_query_or_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(carried(&h, Some("a=1&token=abc")), Some(("abc", true)));
        h.insert(header::COOKIE, HeaderValue::from_static("x=1; orc_log_token=def"));
        assert_eq!(carried(&h, None), Some(("def", false)));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer ghi"));
        assert_eq!(carried(&h, Some("token=abc")), Some(("ghi", false)));
    }
}
