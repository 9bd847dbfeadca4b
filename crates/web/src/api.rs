//! The admin REST API (JSON) for tests and operators: the bearer-token guard, the admin route
//! table and the account routes. Message routes live in `messages`.
//!
//! Accounts are addressed by their address in the path (`/api/accounts/alice@example.test`);
//! addresses are normalized like every login (auth::normalize_address).

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use store::{Uid, UidValidity};

use crate::error::{ApiError, ApiJson, ApiPath};
use crate::messages;
use crate::{App, INJECT_LIMIT};

/// Routes that need `Authorization: Bearer <admin token>`.
pub(crate) fn admin_routes() -> Router<App> {
    use axum::handler::Handler;
    Router::new()
        .route("/api/accounts", get(list_accounts).post(create_account))
        .route(
            "/api/accounts/{addr}",
            get(get_account)
                .patch(update_account)
                .delete(delete_account),
        )
        .route("/api/accounts/{addr}/mailboxes", get(list_mailboxes))
        .route(
            "/api/accounts/{addr}/messages",
            get(messages::list)
                .post(messages::inject.layer(axum::extract::DefaultBodyLimit::max(INJECT_LIMIT))),
        )
        .route(
            "/api/accounts/{addr}/messages/{uid}",
            axum::routing::delete(messages::delete),
        )
        .route(
            "/api/accounts/{addr}/messages/{uid}/raw",
            get(messages::raw),
        )
        .route(
            "/api/accounts/{addr}/purge",
            post(crate::backup::routes::purge),
        )
        .route(
            "/api/accounts/{addr}/export",
            get(crate::backup::routes::export),
        )
        .route(
            "/api/accounts/{addr}/import",
            post(
                crate::backup::routes::import.layer(axum::extract::DefaultBodyLimit::max(
                    crate::backup::routes::IMPORT_LIMIT,
                )),
            ),
        )
        .route("/api/captured", get(messages::captured))
        .route("/api/aliases", post(crate::aliases::add))
        .route(
            "/api/aliases/{alias}",
            axum::routing::delete(crate::aliases::remove),
        )
        .route(
            "/api/domains",
            get(crate::aliases::list).post(crate::aliases::add_domain),
        )
        .route(
            "/api/faults",
            get(crate::faults::list)
                .post(crate::faults::add)
                .delete(crate::faults::clear),
        )
        .route(
            "/api/faults/{id}",
            axum::routing::delete(crate::faults::remove),
        )
        .route("/api/accounts/{addr}/sieve", get(crate::sieve::list))
        .route(
            "/api/accounts/{addr}/deliver",
            post(crate::sieve::deliver.layer(axum::extract::DefaultBodyLimit::max(INJECT_LIMIT))),
        )
        .route(
            "/api/accounts/{addr}/sieve/{name}",
            get(crate::sieve::get)
                // Bodies up to twice the script limit get the script's own answer (507).
                .put(
                    crate::sieve::put.layer(axum::extract::DefaultBodyLimit::max(
                        2 * store::scripts::MAX_SCRIPT_BYTES,
                    )),
                )
                .delete(crate::sieve::delete),
        )
        .route(
            "/api/accounts/{addr}/sieve-active",
            axum::routing::put(crate::sieve::activate),
        )
        .route(
            "/api/accounts/{addr}/forward",
            get(crate::sieve::get_settings)
                .put(crate::sieve::put_forward)
                .delete(crate::sieve::delete_forward),
        )
        .route(
            "/api/accounts/{addr}/vacation",
            get(crate::sieve::get_settings)
                .put(crate::sieve::put_vacation)
                .delete(crate::sieve::delete_vacation),
        )
}

/// The guard: RFC 6750 §2.1 `Authorization: Bearer <token>`; 401 otherwise (before the body
/// is read). An empty configured token refuses everyone rather than accepting an empty one.
pub(crate) async fn require_admin(State(app): State<App>, req: Request, next: Next) -> Response {
    let expected = app.ctx.admin_token.expose().as_bytes();
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().as_bytes());
    match given {
        Some(token) if !expected.is_empty() && constant_time_eq(token, expected) => {
            next.run(req).await
        }
        _ => ApiError::Unauthorized.into_response(),
    }
}

/// Compares without an early exit on the first differing byte (the length is not secret).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An account as the API shows it (never the password hash).
#[derive(Serialize)]
pub(crate) struct AccountView {
    address: String,
    aliases: Vec<String>,
    quota_bytes: Option<u64>,
    quota_messages: Option<u64>,
    pop3_policy: &'static str,
    save_sent: bool,
    /// Unix seconds.
    created: i64,
    used_bytes: u64,
    used_messages: u64,
}

fn view(app: &App, a: &store::Account) -> Result<AccountView, ApiError> {
    let usage = app.ctx.auth.store().usage(a.id)?;
    Ok(AccountView {
        address: a.address.clone(),
        aliases: a.aliases.clone(),
        quota_bytes: a.quota_bytes,
        quota_messages: a.quota_messages,
        pop3_policy: a.pop3_policy.as_str(),
        save_sent: a.save_sent,
        created: a.created,
        used_bytes: usage.bytes,
        used_messages: usage.messages,
    })
}

/// The account stored under exactly `addr` (normalized), or 404.
pub(crate) fn account(app: &App, addr: &str) -> Result<store::Account, ApiError> {
    let address = auth::normalize_address(addr)?;
    app.ctx
        .auth
        .store()
        .account(&address)?
        .ok_or_else(|| ApiError::NotFound(format!("no account {address}")))
}

/// The account `addr` (primary address or alias) receives mail for, or 404.
pub(crate) fn resolve(app: &App, addr: &str) -> Result<store::Account, ApiError> {
    let address = auth::normalize_address(addr)?;
    app.ctx
        .auth
        .store()
        .resolve(&address)?
        .ok_or_else(|| ApiError::NotFound(format!("no account or alias {address}")))
}

async fn list_accounts(State(app): State<App>) -> Result<Json<Vec<AccountView>>, ApiError> {
    let accounts = app.ctx.auth.store().accounts()?;
    Ok(Json(
        accounts
            .iter()
            .map(|a| view(&app, a))
            .collect::<Result<_, _>>()?,
    ))
}

async fn get_account(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(view(&app, &resolve(&app, &addr)?)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccount {
    address: String,
    password: String,
    /// Bytes; absent or 0 = unlimited.
    quota: Option<u64>,
}

/// docs/spec.md §4.1: an account (or alias) must be in a local domain, or mail to it would be
/// refused as relay or captured; 422 naming the domain and the `domains` key otherwise.
pub(crate) fn require_local_domain(app: &App, address: &str) -> Result<(), ApiError> {
    if app.ctx.accept_any_domain {
        return Ok(());
    }
    let address = auth::normalize_address(address)?;
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    if app.ctx.auth.store().is_local_domain(domain)? {
        return Ok(());
    }
    Err(ApiError::Unprocessable(format!(
        "{domain} is not a local domain of this server, so {address} would never receive \
         mail: add \"{domain}\" to `domains` in the configuration (or run `mailstack user add \
         {address} --add-domain`); local domains: {}",
        app.ctx.auth.store().domains()?.join(", ")
    )))
}

/// `POST /api/accounts`: 201 with the account; 400 policy/address; 409 exists; 422 domain
/// not local.
async fn create_account(
    State(app): State<App>,
    ApiJson(req): ApiJson<NewAccount>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    require_local_domain(&app, &req.address)?;
    let password = auth::Secret::new(req.password);
    let quota = req.quota.filter(|q| *q > 0);
    let a = app
        .ctx
        .auth
        .add_user(&req.address, &password, quota)
        .await?;
    tracing::info!(account = %a.address, "account created over http");
    Ok((StatusCode::CREATED, Json(view(&app, &a)?)))
}

async fn delete_account(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let a = account(&app, &addr)?;
    app.ctx.auth.store().delete_account(&a.address).await?;
    tracing::info!(account = %a.address, "account deleted over http");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountChange {
    password: Option<String>,
    /// Bytes; 0 = unlimited.
    quota: Option<u64>,
    /// `keep`, `delete` or `mark-seen`.
    pop3_policy: Option<String>,
    save_sent: Option<bool>,
}

/// `PATCH /api/accounts/{addr}`: every field optional; all are validated before any is applied.
async fn update_account(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
    ApiJson(req): ApiJson<AccountChange>,
) -> Result<Json<AccountView>, ApiError> {
    let a = account(&app, &addr)?;
    let policy = match req.pop3_policy.as_deref() {
        Some(p) => Some(
            p.parse::<store::Pop3Policy>()
                .map_err(ApiError::BadRequest)?,
        ),
        None => None,
    };
    let password = req.password.map(auth::Secret::new);
    if let Some(pw) = &password {
        app.ctx
            .auth
            .check_policy(&a.address, pw.expose())
            .map_err(|p| ApiError::BadRequest(format!("password policy: {p}")))?;
    }
    let store = app.ctx.auth.store();
    let mut updated = a.clone();
    if req.quota.is_some() || policy.is_some() || req.save_sent.is_some() {
        updated = store
            .update_account(&a.address, |acc| {
                if let Some(q) = req.quota {
                    acc.quota_bytes = (q > 0).then_some(q);
                }
                if let Some(p) = policy {
                    acc.pop3_policy = p;
                }
                if let Some(s) = req.save_sent {
                    acc.save_sent = s;
                }
            })
            .await?;
    }
    if let Some(pw) = &password {
        app.ctx.auth.set_password(&a.address, pw).await?;
    }
    Ok(Json(view(&app, &updated)?))
}

#[derive(Serialize)]
pub(crate) struct MailboxView {
    name: String,
    /// RFC 6154 attribute (`\Sent`, …) or null.
    special_use: Option<&'static str>,
    messages: u32,
    unseen: u32,
    bytes: u64,
    uidvalidity: UidValidity,
    uidnext: Uid,
    subscribed: bool,
}

async fn list_mailboxes(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
) -> Result<Json<Vec<MailboxView>>, ApiError> {
    let a = resolve(&app, &addr)?;
    let boxes = app.ctx.auth.store().mailboxes(a.id)?;
    let subscribed: std::collections::BTreeSet<String> = app
        .ctx
        .auth
        .store()
        .subscriptions(a.id)?
        .into_iter()
        .collect();
    Ok(Json(
        boxes
            .into_iter()
            .map(|m| MailboxView {
                special_use: m.special_use.map(|s| s.attribute()),
                messages: m.exists,
                unseen: m.unseen,
                bytes: m.size,
                uidvalidity: m.uidvalidity,
                uidnext: m.uidnext,
                subscribed: subscribed.contains(&m.name),
                name: m.name,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq_works() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
