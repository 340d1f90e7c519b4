//! The API's error type and its JSON envelope:
//! `{"status":"error","errorType":"bad_data","error":"..."}` with Prometheus's status codes.
//!
//! Every error response of the server goes through [`ApiError`], including remote write,
//! import, unknown routes (404), wrong methods (405), oversized bodies (413), unsupported
//! media types (415) and overload (503). The response carries the error in an extension
//! ([`LoggedError`]) so the request middleware logs it with the route and status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::engine::QueryFailure;
use crate::server::json::escape_json;

/// Prometheus's error types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
    Unavailable,
    NotFound,
    /// A body over a configured limit: `bad_data` with 413.
    TooLarge,
    /// An unsupported `Content-Type` or `Content-Encoding`: `bad_data` with 415.
    UnsupportedMediaType,
    /// A route that exists with another method: `bad_data` with 405.
    MethodNotAllowed,
    /// No or bad credentials (401).
    Unauthorized,
    /// Credentials without the permission the route needs (403).
    Forbidden,
    /// The request conflicts with the state (409), e.g. a read-only rule group.
    Conflict,
    /// Over a rate limit or locked out (429, with `Retry-After`).
    TooManyRequests,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData
            | ErrorType::TooLarge
            | ErrorType::UnsupportedMediaType
            | ErrorType::MethodNotAllowed => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::NotFound => "not_found",
            ErrorType::Unauthorized => "unauthorized",
            ErrorType::Forbidden => "forbidden",
            ErrorType::Conflict => "conflict",
            ErrorType::TooManyRequests => "too_many_requests",
        }
    }
    /// The status codes of Prometheus's `web/api/v1` (`canceled` is 499, nginx's "client closed").
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout | ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorType::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorType::Forbidden => StatusCode::FORBIDDEN,
            ErrorType::Conflict => StatusCode::CONFLICT,
            ErrorType::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// An API error: its type and the message sent to the client. Internal details are logged,
/// not sent.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn bad_data(m: impl Into<String>) -> Self {
        ApiError { kind: ErrorType::BadData, message: m.into() }
    }
    pub fn unavailable(m: impl Into<String>) -> Self {
        ApiError { kind: ErrorType::Unavailable, message: m.into() }
    }
    pub fn new(kind: ErrorType, m: impl Into<String>) -> Self {
        ApiError { kind, message: m.into() }
    }
    /// Logs the detail and returns a generic internal error.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error serving API request");
        ApiError { kind: ErrorType::Internal, message: "internal error (see server log)".into() }
    }
}

impl From<QueryFailure> for ApiError {
    fn from(f: QueryFailure) -> Self {
        match f {
            QueryFailure::BadData(m) => ApiError { kind: ErrorType::BadData, message: m },
            QueryFailure::Execution(m) => ApiError { kind: ErrorType::Execution, message: m },
            QueryFailure::Timeout(m) => ApiError { kind: ErrorType::Timeout, message: m },
            QueryFailure::Canceled(m) => ApiError { kind: ErrorType::Canceled, message: m },
            QueryFailure::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<storage::Error> for ApiError {
    fn from(e: storage::Error) -> Self {
        match e {
            storage::Error::InvalidArgument(m) => ApiError::bad_data(m),
            storage::Error::Closed => ApiError::unavailable("storage is closed"),
            e => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = format!(
            "{{\"status\":\"error\",\"errorType\":\"{}\",\"error\":\"{}\"}}",
            self.kind.as_str(),
            escape_json(&self.message)
        );
        let mut r = (self.kind.status(), body).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.kind == ErrorType::Unavailable {
            // Remote-write senders honour Retry-After; so do well-behaved API clients.
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r.extensions_mut().insert(LoggedError(self));
        r
    }
}

/// The error a response was made from, for the logging middleware.
#[derive(Clone, Debug)]
pub struct LoggedError(pub ApiError);

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: QueryFailure, status: u16, kind: &str) {
        let e = ApiError::from(f);
        assert_eq!((e.kind.status().as_u16(), e.kind.as_str()), (status, kind));
    }

    #[test]
    fn prometheus_status_codes() {
        check(QueryFailure::BadData("x".into()), 400, "bad_data");
        check(QueryFailure::Execution("x".into()), 422, "execution");
        check(QueryFailure::Timeout("x".into()), 503, "timeout");
        check(QueryFailure::Canceled("x".into()), 499, "canceled");
        check(QueryFailure::Internal("secret detail".into()), 500, "internal");
        assert_eq!(
            ApiError::from(QueryFailure::Internal("secret detail".into())).message,
            "internal error (see server log)"
        );
        assert_eq!(ApiError::from(storage::Error::Closed).kind, ErrorType::Unavailable);
        let codes = |k: ErrorType| (k.status().as_u16(), k.as_str());
        assert_eq!(codes(ErrorType::TooLarge), (413, "bad_data"));
        assert_eq!(codes(ErrorType::UnsupportedMediaType), (415, "bad_data"));
        assert_eq!(codes(ErrorType::MethodNotAllowed), (405, "bad_data"));
        assert_eq!(codes(ErrorType::NotFound), (404, "not_found"));
    }
}
