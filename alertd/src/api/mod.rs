//! The HTTP APIs beyond the basics in `http.rs`: the Alertmanager API v2 ([`am`]), the
//! Prometheus query API ([`prom`]), alertd's own API under `/api/alertd/v1/` ([`own`]) and
//! bearer-token authentication ([`auth`]); each a router merged into [`crate::http::router`].

use std::sync::Arc;

use axum::Router;

use crate::daemon::App;

pub(crate) mod am;
pub(crate) mod auth;
pub(crate) mod error;
pub(crate) mod limits;
pub(crate) mod oncall;
pub(crate) mod own;
pub mod prom;

/// Every route of this module, merged into the router by `http::router`.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .merge(am::routes())
        .merge(own::routes())
        .merge(oncall::routes())
        .merge(prom::router())
}
