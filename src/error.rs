//! One error type for the whole node. Each variant knows its HTTP status; API errors are JSON
//! `{"error": "…"}`, and the command line prints the same message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid admin token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The thing existed and is gone for good or for now (deleted or suspended actors). The optional body is
    /// an ActivityStreams document (a `Tombstone`) served instead of the usual error JSON.
    #[error("{message}")]
    Gone {
        message: String,
        tombstone: Option<Value>,
    },
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests from this server; retry in {} s", .0.as_secs().max(1))]
    TooManyRequests(std::time::Duration),
    #[error("signature rejected: {0}")]
    SignatureRejected(String),
    #[error("the request body is larger than the {0} bytes allowed")]
    PayloadTooLarge(usize),
    /// Something the node depends on is not there (the database, the listening address): 503.
    #[error("{0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("{0}")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Gone { .. } => StatusCode::GONE,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::SignatureRejected(_) => StatusCode::UNAUTHORIZED,
            Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Error::NotFound(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Error::Conflict(msg.into())
    }
    pub fn unprocessable(msg: impl Into<String>) -> Self {
        Error::Unprocessable(msg.into())
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => {
                Error::Unavailable(format!("the database is unavailable: {e}"))
            }
            sqlx::Error::Database(ref db) if is_transient(db.code().as_deref()) => {
                Error::Unavailable(format!("the database is unavailable: {e}"))
            }
            other => Error::Database(other),
        }
    }
}

/// Database error codes that mean "not now" rather than "wrong": the connection was cut or refused
/// (PostgreSQL 08xxx; 57P01–57P03 shutdown, crash, starting up; 53xxx out of resources such as too many
/// connections; 55000 a database not accepting connections) or SQLite stayed busy past its timeout (5, 6).
fn is_transient(code: Option<&str>) -> bool {
    match code {
        Some(c) => {
            c.starts_with("08")
                || c.starts_with("53")
                || matches!(c, "57P01" | "57P02" | "57P03" | "55000" | "5" | "6" | "517")
        }
        None => false,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        match self {
            Error::TooManyRequests(wait) => crate::http::limits::too_many(wait, "from this server"),
            Error::Gone {
                tombstone: Some(doc),
                ..
            } => {
                let mut res = (status, Json(doc)).into_response();
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(crate::http::AP_CONTENT_TYPE),
                );
                res
            }
            // Internal details stay in the log, not in the answer.
            Error::Database(_) | Error::Internal(_) => {
                (status, Json(json!({"error": "internal server error"}))).into_response()
            }
            other => (status, Json(json!({"error": other.to_string()}))).into_response(),
        }
    }
}
