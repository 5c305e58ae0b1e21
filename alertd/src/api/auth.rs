//! Bearer-token authentication (`api.tokens_file`, `api.auth_reads`).
//!
//! With a tokens file, every state-changing request (any method other than GET, HEAD and
//! OPTIONS: POST/PUT/DELETE under `/api/v2/` and `/api/alertd/v1/`, `/-/reload`, ...) needs
//! `Authorization: Bearer <token>`; with `auth_reads: true` read requests need it too. Always
//! open: `/-/healthy`, `/-/ready`, heartbeat pings (`/ping/...`, authorised by their URL) and the
//! public status page and badges (`/status`, `/badge/...`), and Slack's interaction requests
//! (`/api/alertd/v1/slack/interactions`, authorised by Slack's signature, since Slack cannot
//! send alertd's token). The Prometheus query endpoints
//! (`/api/v1/...`) accept POST as a read. Tokens are compared in constant time
//! (`subtle::ConstantTimeEq`) and never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use subtle::ConstantTimeEq;

use crate::daemon::App;

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Open to anyone.
    Open,
    /// Needs a token only with `auth_reads: true`.
    Read,
    /// Needs a token whenever a tokens file is configured.
    Write,
}

/// Classifies a request by method and path.
pub(crate) fn access(method: &Method, path: &str) -> Access {
    if matches!(
        path,
        "/-/healthy" | "/-/ready" | "/status" | crate::slack::PATH
    ) || path.starts_with("/ping/")
        || path.starts_with("/badge/")
    {
        return Access::Open;
    }
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || (path.starts_with("/api/v1/") && *method == Method::POST);
    if read {
        Access::Read
    } else {
        Access::Write
    }
}

/// Whether `presented` equals one of `tokens`, comparing every token in constant time.
pub(crate) fn token_ok(presented: &str, tokens: &[model::Secret]) -> bool {
    let mut ok = subtle::Choice::from(0u8);
    for t in tokens {
        ok |= t.expose().as_bytes().ct_eq(presented.as_bytes());
    }
    bool::from(ok)
}

/// The bearer token of an `Authorization` header value.
fn bearer(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    let (scheme, token) = s.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(path: &str, message: &str) -> Response {
    let mut r = if path.starts_with("/api/v2/") {
        crate::api::error::ApiError::am(StatusCode::UNAUTHORIZED, message).into_response()
    } else if path.starts_with("/api/v1/") {
        (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({
                "status": "error", "errorType": "unauthorized", "error": message
            })),
        )
            .into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "error": message })),
        )
            .into_response()
    };
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"alertd\""),
    );
    r
}

/// The middleware: refuses a request that needs a token and lacks a valid one with 401 and
/// `WWW-Authenticate: Bearer`.
pub(crate) async fn require_token(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Response {
    let cfg = app.config();
    if cfg.api.tokens_file.is_none() {
        return next.run(req).await;
    }
    let needed = match access(req.method(), req.uri().path()) {
        Access::Open => false,
        Access::Read => cfg.api.auth_reads,
        Access::Write => true,
    };
    if !needed {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    match req.headers().get(header::AUTHORIZATION).map(bearer) {
        None => unauthorized(
            &path,
            "this request needs a bearer token (Authorization: Bearer <token> from api.tokens_file)",
        ),
        Some(None) => unauthorized(
            &path,
            "the Authorization header must be `Bearer <token>`",
        ),
        Some(Some(t)) if token_ok(t, &cfg.api.tokens) => next.run(req).await,
        Some(Some(_)) => unauthorized(&path, "invalid bearer token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_need_tokens_reads_only_with_auth_reads_and_health_and_pings_never() {
        let w = |m: Method, p: &str| access(&m, p);
        assert_eq!(w(Method::POST, "/api/v2/silences"), Access::Write);
        assert_eq!(w(Method::DELETE, "/api/v2/silence/x"), Access::Write);
        assert_eq!(w(Method::POST, "/api/alertd/v1/acks"), Access::Write);
        assert_eq!(w(Method::PUT, "/-/reload"), Access::Write);
        assert_eq!(w(Method::POST, "/-/reload"), Access::Write);
        assert_eq!(w(Method::GET, "/api/v2/alerts"), Access::Read);
        assert_eq!(w(Method::GET, "/metrics"), Access::Read);
        assert_eq!(w(Method::POST, "/api/v1/query"), Access::Read);
        assert_eq!(w(Method::GET, "/-/healthy"), Access::Open);
        assert_eq!(w(Method::GET, "/-/ready"), Access::Open);
        assert_eq!(w(Method::POST, "/ping/backup/start"), Access::Open);
        assert_eq!(
            w(Method::POST, "/api/alertd/v1/slack/interactions"),
            Access::Open
        );
    }

    #[test]
    fn tokens_compare_whole() {
        let tokens = [model::Secret::new("alpha-123"), model::Secret::new("beta")];
        assert!(token_ok("alpha-123", &tokens));
        assert!(token_ok("beta", &tokens));
        assert!(!token_ok("alpha-12", &tokens));
        assert!(!token_ok("alpha-1234", &tokens));
        assert!(!token_ok("", &tokens));
        assert!(!token_ok("beta", &[]));
        let h = HeaderValue::from_static("Bearer  abc ");
        assert_eq!(bearer(&h), Some("abc"));
        assert_eq!(bearer(&HeaderValue::from_static("Basic abc")), None);
    }
}
