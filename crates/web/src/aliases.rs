//! `/api/aliases` and `/api/domains`: the alias and local-domain verbs of the CLI
//! (`mailstack alias add|del`, `--add-domain`) for a running server (docs/spec.md §7.1).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::require_local_domain;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAlias {
    alias: String,
    /// The account it delivers to.
    address: String,
}

#[derive(Serialize)]
pub(crate) struct AliasView {
    alias: String,
    address: String,
}

/// `POST /api/aliases`: 201; 404 no such account; 409 the address is taken or the account
/// has 10 aliases; 422 the alias's domain is not local.
pub(crate) async fn add(
    State(app): State<App>,
    ApiJson(req): ApiJson<NewAlias>,
) -> Result<(StatusCode, Json<AliasView>), ApiError> {
    let alias = auth::normalize_address(&req.alias)?;
    let address = auth::normalize_address(&req.address)?;
    require_local_domain(&app, &alias)?;
    app.ctx.auth.store().add_alias(&alias, &address).await?;
    tracing::info!(%alias, account = %address, "alias added over http");
    Ok((StatusCode::CREATED, Json(AliasView { alias, address })))
}

/// `DELETE /api/aliases/{alias}`: 204; 404 when there is no such alias.
pub(crate) async fn remove(
    State(app): State<App>,
    ApiPath(alias): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let alias = auth::normalize_address(&alias)?;
    match app.ctx.auth.store().remove_alias(&alias).await {
        Ok(()) => {
            tracing::info!(%alias, "alias removed over http");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(store::Error::Alias(_)) => Err(ApiError::NotFound(format!("no alias {alias}"))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDomain {
    domain: String,
}

/// `GET /api/domains`: the local domains (configured and added).
pub(crate) async fn list(State(app): State<App>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(app.ctx.auth.store().domains()?))
}

/// `POST /api/domains`: makes a domain local at once (kept in the store; the config file is
/// not rewritten). 201 with the domains now local; 400 when it is not a domain name.
pub(crate) async fn add_domain(
    State(app): State<App>,
    ApiJson(req): ApiJson<NewDomain>,
) -> Result<(StatusCode, Json<Vec<String>>), ApiError> {
    let domain = req.domain.trim().to_ascii_lowercase();
    // Checked like the domain of an address.
    auth::normalize_address(&format!("x@{domain}"))?;
    let store = app.ctx.auth.store();
    store.set_domains(std::slice::from_ref(&domain)).await?;
    tracing::info!(%domain, "local domain added over http");
    Ok((StatusCode::CREATED, Json(store.domains()?)))
}
