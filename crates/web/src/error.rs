//! Error answers of the HTTP service and the extractors that turn axum's rejections into them.
//!
//! Three classes, as in the protocol crates (docs/conventions.md §4): user errors (4xx with a reason
//! the caller can act on), malformed input (400) and server errors (logged; the client gets a
//! generic 500 without details). Every error body is JSON `{"error": "..."}`; nothing from a
//! panic or a `Debug` dump ever reaches a response.

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

/// An error answer. `Display` is the message sent to the client (never for `Internal`).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: bad JSON, form, query or path (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong admin token (401, RFC 6750 §3 `WWW-Authenticate: Bearer`).
    #[error("missing or wrong admin token: send \"Authorization: Bearer <token>\"")]
    Unauthorized,
    /// Credentials given but wrong (403).
    #[error("{0}")]
    Forbidden(String),
    /// Unknown account, mailbox, message or route (404).
    #[error("{0}")]
    NotFound(String),
    /// A request for a host name this server does not answer for without a token (421,
    /// RFC 9110 §15.5.20): the dashboard's defence against DNS rebinding (docs/spec.md §6.4).
    #[error("{0}")]
    Misdirected(String),
    /// Well-formed but refused by the server's configuration, e.g. an account in a domain
    /// that is not local (422, RFC 9110 §15.5.21).
    #[error("{0}")]
    Unprocessable(String),
    /// The thing already exists (409).
    #[error("{0}")]
    Conflict(String),
    /// Body over the route's limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// Too many failed logins (429 with `Retry-After`, RFC 6585 §4).
    #[error("too many failed logins; try again in {} seconds", .0.as_secs().max(1))]
    Throttled(Duration),
    /// The mailbox is full (507, RFC 4918 §11.5).
    #[error("{0}")]
    OverQuota(String),
    /// A server-side failure; the text is logged, never sent.
    #[error("internal error")]
    Internal(String),
    /// The store refuses writes after a disk failure (503 with `Retry-After`).
    #[error("storage unavailable; try again later")]
    Unavailable(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Misdirected(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::OverQuota(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Maps an axum extractor rejection: 413 stays 413, every other one is malformed input.
    fn rejected(status: StatusCode, text: String) -> ApiError {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge("request body too large".into())
        } else {
            ApiError::BadRequest(text)
        }
    }

    /// Extra headers of the answer.
    fn headers(&self, resp: &mut Response) {
        match self {
            ApiError::Unauthorized => {
                resp.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"mailstack\""),
                );
            }
            ApiError::Throttled(wait) => {
                if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                    resp.headers_mut().insert(RETRY_AFTER, v);
                }
            }
            ApiError::Unavailable(_) => {
                resp.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("60"));
            }
            _ => {}
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) | ApiError::Unavailable(detail) = &self {
            tracing::error!(error = %detail, "http request failed");
        }
        let body = serde_json::json!({ "error": self.to_string() });
        let mut resp = (self.status(), Json(body)).into_response();
        self.headers(&mut resp);
        resp
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        use store::Error as E;
        match e {
            E::NoSuchAccount | E::NoSuchMailbox | E::NoSuchMessage => {
                ApiError::NotFound(e.to_string())
            }
            E::AccountExists | E::MailboxExists | E::Alias(_) => ApiError::Conflict(e.to_string()),
            E::InvalidName(_) | E::NotPermitted(_) => ApiError::BadRequest(e.to_string()),
            E::OverQuota => ApiError::OverQuota(e.to_string()),
            E::Script(s) => {
                use store::scripts::ScriptError as S;
                match s {
                    S::NoSuchScript => ApiError::NotFound(e.to_string()),
                    S::Exists | S::Active => ApiError::Conflict(e.to_string()),
                    S::TooMany | S::TooLarge => ApiError::OverQuota(e.to_string()),
                    S::BadName => ApiError::BadRequest(e.to_string()),
                }
            }
            E::MaildropInUse => ApiError::Conflict(e.to_string()),
            E::Unavailable(_) => ApiError::Unavailable(e.to_string()),
            E::Locked { .. } | E::Db(_) | E::Corrupt(_) | E::Io(_) => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

impl From<auth::AuthError> for ApiError {
    fn from(e: auth::AuthError) -> Self {
        use auth::AuthError as E;
        match e {
            E::Failed => ApiError::Forbidden("wrong user name or password".into()),
            E::Throttled(d) => ApiError::Throttled(d),
            E::Policy(p) => ApiError::BadRequest(format!("password policy: {p}")),
            E::InvalidAddress(a) => ApiError::BadRequest(format!("invalid address: {a}")),
            E::Store(s) => s.into(),
            E::Hash(h) => ApiError::Internal(h),
        }
    }
}

/// `Json<T>` whose rejection is an [`ApiError`] (400 JSON instead of axum's plain text).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(ApiError::rejected(r.status(), r.body_text())),
        }
    }
}

/// `Form<T>` (application/x-www-form-urlencoded) with an [`ApiError`] rejection.
pub struct ApiForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiForm<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(ApiForm(v)),
            Err(r) => Err(ApiError::rejected(r.status(), r.body_text())),
        }
    }
}

/// The raw body with an [`ApiError`] rejection (413 over the route's limit).
pub struct ApiBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => Ok(ApiBytes(b)),
            Err(r) => Err(ApiError::rejected(r.status(), r.body_text())),
        }
    }
}

/// `Query<T>` with an [`ApiError`] rejection.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(ApiError::rejected(r.status(), r.body_text())),
        }
    }
}

/// `Path<T>` with an [`ApiError`] rejection (e.g. a UID that is not a number).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(ApiError::rejected(StatusCode::BAD_REQUEST, r.body_text())),
        }
    }
}
