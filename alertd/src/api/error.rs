//! The one error answer of alertd's HTTP APIs. Each API keeps its own wire format, defined here
//! once: alertd's own `{"error": "..."}`, Alertmanager v2's error object `{"code", "message"}`
//! and its handlers' bare JSON string, and Prometheus's
//! `{"status":"error","errorType":...,"error":...}`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answer: a status, a message, and the wire format of the API answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    format: Format,
}

/// The wire format of an [`ApiError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// alertd's own: `{"error": message}` (its API, `/-/` routes, pings, pages, Slack, admin).
    Own,
    /// Alertmanager v2's error object, `{"code": code, "message": message}`.
    AmObject {
        /// Usually the HTTP status; Alertmanager's validation errors carry their own (601).
        code: u16,
    },
    /// Alertmanager's handler error: the message as a JSON string.
    AmString,
    /// Prometheus: `{"status":"error","errorType":..,"error":..}`, in that key order.
    Prometheus {
        /// `bad_data`, `execution`, `timeout`, ...
        error_type: &'static str,
    },
}

impl ApiError {
    /// alertd's own format.
    pub(crate) fn own(status: StatusCode, message: impl Into<String>) -> Self {
        Self::with(status, message, Format::Own)
    }

    /// Alertmanager v2's error object, its code the HTTP status.
    pub(crate) fn am(status: StatusCode, message: impl Into<String>) -> Self {
        Self::am_code(status, status.as_u16(), message)
    }

    /// Alertmanager v2's error object with its own `code` (validation errors: 601).
    pub(crate) fn am_code(status: StatusCode, code: u16, message: impl Into<String>) -> Self {
        Self::with(status, message, Format::AmObject { code })
    }

    /// Alertmanager's handler error, a JSON string.
    pub(crate) fn am_string(status: StatusCode, message: impl Into<String>) -> Self {
        Self::with(status, message, Format::AmString)
    }

    /// Prometheus's error envelope.
    pub(crate) fn prometheus(
        status: StatusCode,
        error_type: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::with(status, message, Format::Prometheus { error_type })
    }

    fn with(status: StatusCode, message: impl Into<String>, format: Format) -> Self {
        ApiError {
            status,
            message: message.into(),
            format,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        match self.format {
            Format::Own => {
                let body = model::api::ErrorBody {
                    error: self.message,
                };
                (status, Json(body)).into_response()
            }
            Format::AmObject { code } => {
                let body = model::api::V2Error {
                    code,
                    message: self.message,
                };
                (status, Json(body)).into_response()
            }
            Format::AmString => (status, Json(self.message)).into_response(),
            Format::Prometheus { error_type } => {
                let body = format!(
                    "{{\"status\":\"error\",\"errorType\":\"{error_type}\",\"error\":{}}}",
                    serde_json::Value::String(self.message)
                );
                (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(e: ApiError) -> (StatusCode, String) {
        let r = e.into_response();
        let status = r.status();
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(b.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn each_api_keeps_its_wire_format() {
        let bad = StatusCode::BAD_REQUEST;
        assert_eq!(
            body(ApiError::own(bad, "no \"x\"")).await,
            (bad, r#"{"error":"no \"x\""}"#.into())
        );
        assert_eq!(
            body(ApiError::am(bad, "m")).await,
            (bad, r#"{"code":400,"message":"m"}"#.into())
        );
        let unproc = StatusCode::UNPROCESSABLE_ENTITY;
        assert_eq!(
            body(ApiError::am_code(unproc, 601, "m")).await,
            (unproc, r#"{"code":601,"message":"m"}"#.into())
        );
        assert_eq!(
            body(ApiError::am_string(bad, "m")).await,
            (bad, r#""m""#.into())
        );
        assert_eq!(
            body(ApiError::prometheus(bad, "bad_data", "q\"")).await,
            (
                bad,
                r#"{"status":"error","errorType":"bad_data","error":"q\""}"#.into()
            )
        );
    }
}
