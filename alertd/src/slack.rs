//! `POST /api/alertd/v1/slack/interactions`: the Request URL of a Slack app's interactivity,
//! where clicks on the "Acknowledge" button arrive. Slack cannot send alertd's bearer token, so
//! this route is authorised by Slack's request signature instead (checked by the notifier).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use notifier::interactions::InteractionError;

use crate::api::error::ApiError;
use crate::daemon::App;

/// The path Slack posts interactions to.
pub(crate) const PATH: &str = "/api/alertd/v1/slack/interactions";

/// The route.
pub(crate) fn router() -> Router<Arc<App>> {
    Router::new().route(PATH, post(interaction))
}

async fn interaction(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let n = app.pipeline().notifier().clone();
    let ts = header("x-slack-request-timestamp");
    let sig = header("x-slack-signature");
    let result = tokio::task::spawn_blocking({
        let n = n.clone();
        move || n.slack_interaction(&ts, &sig, &body)
    })
    .await;
    match result {
        Ok(Ok(done)) => {
            if !done.acknowledged.is_empty() {
                tracing::info!(
                    user = %done.user,
                    alerts = done.acknowledged.len(),
                    "alerts acknowledged with the Slack button"
                );
            }
            // Slack wants the answer within 3 s; the visible reply goes to response_url.
            tokio::spawn(async move { n.reply_to_slack(&done).await });
            StatusCode::OK.into_response()
        }
        Ok(Err(e @ (InteractionError::BadSignature | InteractionError::Stale))) => {
            ApiError::own(StatusCode::UNAUTHORIZED, e.to_string()).into_response()
        }
        Ok(Err(e @ InteractionError::NotConfigured)) => {
            ApiError::own(StatusCode::NOT_FOUND, e.to_string()).into_response()
        }
        Ok(Err(e @ InteractionError::BadPayload(_))) => {
            ApiError::own(StatusCode::BAD_REQUEST, e.to_string()).into_response()
        }
        Ok(Err(e @ InteractionError::Notifier(_))) => {
            ApiError::own(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
        Err(e) => ApiError::own(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
