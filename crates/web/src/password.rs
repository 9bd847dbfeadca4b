//! `POST /api/password`: a user changes their own password, as Roundcube's `password` plugin
//! does with its `httpapi` driver (`password_httpapi_url`, method POST, fields `user`,
//! `curpass`, `newpass`; success is HTTP 200 and a body matching `password_httpapi_expect`,
//! e.g. `/^ok$/`).
//!
//! The current password is verified through [`auth::Auth::login`], so a guessing client
//! is throttled exactly like an IMAP/POP3/SMTP login from the same address. The new password
//! passes the policy (docs/spec.md §4) and works for every protocol at once.
//!
//! Answers are `text/plain`: `200 ok`, `403` wrong password, `400` policy (the rule that failed),
//! `429` throttled (with `Retry-After`). A malformed form is a 400 JSON error like every other.

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::{ApiError, ApiForm};
use crate::{App, ClientIp};

/// The form Roundcube's `httpapi` driver posts (its default variable names).
#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    user: String,
    curpass: String,
    newpass: String,
}

pub(crate) async fn change(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    ApiForm(form): ApiForm<PasswordForm>,
) -> Response {
    let auth = &app.ctx.auth;
    let current = auth::Secret::new(form.curpass);
    let new = auth::Secret::new(form.newpass);
    let from = auth::LoginFrom {
        ip,
        protocol: "http",
        mechanism: "password change",
    };
    let account = match auth.login(&form.user, &current, &from).await {
        Ok(a) => a,
        Err(e) => return text_error(e.into()),
    };
    if new.expose() == current.expose() {
        return text_error(ApiError::BadRequest(
            "the new password must differ from the current one".into(),
        ));
    }
    match auth.set_password(&account.address, &new).await {
        Ok(()) => {
            tracing::info!(account = %account.address, "password changed over http");
            (
                StatusCode::OK,
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                "ok\n",
            )
                .into_response()
        }
        Err(e) => text_error(e.into()),
    }
}

/// The error as a one-line text answer (what Roundcube shows in its log).
fn text_error(e: ApiError) -> Response {
    if let ApiError::Internal(detail) = &e {
        tracing::error!(error = %detail, "password change failed");
    }
    let mut resp = (
        e.status(),
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{e}\n"),
    )
        .into_response();
    if let ApiError::Throttled(wait) = e {
        if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
            resp.headers_mut().insert(RETRY_AFTER, v);
        }
    }
    resp
}
