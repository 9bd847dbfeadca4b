//! Sieve over REST (docs/spec.md §6.5): an account's scripts (what ManageSieve manages) and
//! the forward / vacation settings of `mailstack forward` / `mailstack vacation`
//! (`sieve_settings`), for the CLI's live mode and the dashboard.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::resolve;
use crate::error::{ApiBytes, ApiError, ApiJson, ApiPath, ApiQuery};
use crate::sieve_settings::{self, Forward, Settings, SettingsError, Vacation};
use crate::App;

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid(why) => ApiError::Unprocessable(why),
            SettingsError::Store(s) => s.into(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct ScriptView {
    name: String,
    active: bool,
    bytes: usize,
}

/// `GET /api/accounts/{addr}/sieve`: the account's scripts and the forward/vacation settings.
pub(crate) async fn list(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let a = resolve(&app, &addr)?;
    let store = app.ctx.auth.store();
    let scripts: Vec<ScriptView> = store
        .sieve_scripts(a.id)?
        .into_iter()
        .map(|s| ScriptView {
            name: s.name,
            active: s.active,
            bytes: s.bytes,
        })
        .collect();
    let settings = sieve_settings::settings(store, a.id)?;
    Ok(Json(serde_json::json!({
        "account": a.address,
        "scripts": scripts,
        "settings": settings,
    })))
}

/// `GET /api/accounts/{addr}/sieve/{name}`: the script's text (`text/plain`).
pub(crate) async fn get(
    State(app): State<App>,
    ApiPath((addr, name)): ApiPath<(String, String)>,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), ApiError> {
    let a = resolve(&app, &addr)?;
    match app.ctx.auth.store().sieve_script(a.id, &name)? {
        Some(text) => Ok((
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            text,
        )),
        None => Err(ApiError::NotFound(format!("no script {name:?}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutQuery {
    #[serde(default)]
    activate: bool,
}

/// `PUT /api/accounts/{addr}/sieve/{name}[?activate=true]` with the script as body: checked
/// like ManageSieve's PUTSCRIPT (422 with the line of the first error).
pub(crate) async fn put(
    State(app): State<App>,
    ApiPath((addr, name)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<PutQuery>,
    ApiBytes(body): ApiBytes,
) -> Result<StatusCode, ApiError> {
    let a = resolve(&app, &addr)?;
    store::scripts::check_script_name(&name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if body.len() > store::scripts::MAX_SCRIPT_BYTES {
        return Err(store::Error::Script(store::scripts::ScriptError::TooLarge).into());
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the script is not UTF-8".into()))?;
    sieve::parse(text).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let store = app.ctx.auth.store();
    store
        .put_sieve_script(a.id, &name, text, q.activate)
        .await?;
    tracing::info!(account = %a.address, script = %name, "Sieve script stored over http");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/accounts/{addr}/sieve/{name}`: 204; 409 for the active script.
pub(crate) async fn delete(
    State(app): State<App>,
    ApiPath((addr, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let a = resolve(&app, &addr)?;
    app.ctx
        .auth
        .store()
        .delete_sieve_script(a.id, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Activate {
    /// The script to make active; `null` deactivates every script.
    name: Option<String>,
}

/// `PUT /api/accounts/{addr}/sieve-active` `{"name": …}`: RFC 5804 §2.8 SETACTIVE.
pub(crate) async fn activate(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
    ApiJson(req): ApiJson<Activate>,
) -> Result<StatusCode, ApiError> {
    let a = resolve(&app, &addr)?;
    app.ctx
        .auth
        .store()
        .set_active_sieve_script(a.id, req.name.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/accounts/{addr}/forward`, `…/vacation`: the settings (null fields when off).
pub(crate) async fn get_settings(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
) -> Result<Json<Settings>, ApiError> {
    let a = resolve(&app, &addr)?;
    Ok(Json(sieve_settings::settings(app.ctx.auth.store(), a.id)?))
}

/// `PUT /api/accounts/{addr}/forward` `{"to": …, "keep_copy": …}`: returns the settings.
pub(crate) async fn put_forward(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
    ApiJson(f): ApiJson<Forward>,
) -> Result<Json<Settings>, ApiError> {
    let a = resolve(&app, &addr)?;
    let store = app.ctx.auth.store();
    sieve_settings::set_forward(store, a.id, Some(&f)).await?;
    tracing::info!(account = %a.address, "forward set over http");
    Ok(Json(sieve_settings::settings(store, a.id)?))
}

/// `DELETE /api/accounts/{addr}/forward`: 204 (also when there was none).
pub(crate) async fn delete_forward(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let a = resolve(&app, &addr)?;
    sieve_settings::set_forward(app.ctx.auth.store(), a.id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/accounts/{addr}/vacation` (a [`Vacation`]): returns the settings.
pub(crate) async fn put_vacation(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
    ApiJson(v): ApiJson<Vacation>,
) -> Result<Json<Settings>, ApiError> {
    let a = resolve(&app, &addr)?;
    let store = app.ctx.auth.store();
    sieve_settings::set_vacation(store, a.id, Some(&v)).await?;
    tracing::info!(account = %a.address, "vacation set over http");
    Ok(Json(sieve_settings::settings(store, a.id)?))
}

/// `DELETE /api/accounts/{addr}/vacation`: 204 (also when there was none).
pub(crate) async fn delete_vacation(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let a = resolve(&app, &addr)?;
    sieve_settings::set_vacation(app.ctx.auth.store(), a.id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/accounts/{addr}/deliver` with the raw message as body: final delivery as SMTP
/// does it, through the account's active Sieve script (`mailstack deliver` without
/// `--mailbox` on a running server). 202: where it went depends on the script; without a
/// script, 201 with INBOX and the UID (as `POST …/messages`).
pub(crate) async fn deliver(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
    ApiBytes(body): ApiBytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let a = resolve(&app, &addr)?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "empty body: send the raw RFC 5322 message".into(),
        ));
    }
    let store = app.ctx.auth.store();
    if store.active_sieve_script(a.id)?.is_none() {
        // No script: INBOX, answered as `POST …/messages` is (201 with the UID).
        let inbox = store
            .mailbox(a.id, "INBOX")?
            .ok_or_else(|| ApiError::NotFound(format!("{} has no INBOX", a.address)))?;
        return crate::messages::store_message(&app, &a, &inbox, &body).await;
    }
    let to = auth::normalize_address(&addr)?;
    let out = submission::filter::Outbound {
        capture: app.ctx.capture_account.as_deref(),
        hostname: &app.ctx.advertised.hostname,
    };
    let env = submission::filter::Envelope { from: "", to: &to };
    submission::filter::deliver_to_account(store, out, env, &a, &body)
        .await
        .map_err(|e| crate::messages::over_quota(&a, e))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "account": a.address, "delivered": true })),
    ))
}
