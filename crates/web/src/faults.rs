//! `/api/faults`: the fault injection rules of the running server (docs/spec.md §7.7), for
//! tests, the CLI (`mailstack fault …`) and the dashboard. Admin routes (bearer token).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use net::faults::{Rule, RuleSpec};
use serde::Serialize;

use crate::error::{ApiError, ApiJson, ApiPath};
use crate::App;

/// `GET /api/faults`: the rules in force, oldest first.
pub(crate) async fn list(State(app): State<App>) -> Json<Vec<Rule>> {
    Json(app.ctx.faults.rules())
}

/// `POST /api/faults`: adds a rule; 201 with the rule and its id, 422 with the field at
/// fault when the rule is refused.
pub(crate) async fn add(
    State(app): State<App>,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> Result<impl IntoResponse, ApiError> {
    let rule = app
        .ctx
        .faults
        .add(spec)
        .map_err(|e| ApiError::Unprocessable(e.0))?;
    tracing::info!(rule = rule.id, stage = rule.spec.stage, "fault rule added");
    Ok((StatusCode::CREATED, Json(rule)))
}

#[derive(Serialize)]
pub(crate) struct Removed {
    removed: usize,
}

/// `DELETE /api/faults`: removes every rule.
pub(crate) async fn clear(State(app): State<App>) -> Json<Removed> {
    let removed = app.ctx.faults.clear();
    tracing::info!(removed, "fault rules cleared");
    Json(Removed { removed })
}

/// `DELETE /api/faults/{id}`: removes one rule; 404 when there is none with that id.
pub(crate) async fn remove(
    State(app): State<App>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Removed>, ApiError> {
    if app.ctx.faults.remove(id) {
        tracing::info!(rule = id, "fault rule removed");
        Ok(Json(Removed { removed: 1 }))
    } else {
        Err(ApiError::NotFound(format!("no fault rule {id}")))
    }
}
