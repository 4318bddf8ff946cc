//! The one error type of the engine, and [`ErrorCode`], the one list of the codes clients
//! can see. Each variant maps to a stable code and an HTTP status (see `http::error`);
//! internal details are logged with their whole cause chain, never returned.

use std::borrow::Cow;

/// Every `code` a client can receive in `{"error": {"code", "message"}}`, in REST bodies
/// and in WebSocket `error` frames. The text form is the variant in snake case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    // Requests the server could not read (400, 405, 413, 415, 422).
    /// A request that is malformed in a way no other code covers.
    BadRequest,
    /// The body (or a socket frame) is not JSON.
    InvalidJson,
    /// A socket frame without a string `type`, or with bad fields for its type.
    InvalidFrame,
    /// A socket frame of a type the server does not take.
    UnknownType,
    /// A multipart body that could not be read.
    InvalidMultipart,
    /// A field is missing or wrong; the message names it.
    Invalid,
    MethodNotAllowed,
    TooLarge,
    UnsupportedMediaType,

    // Who is asking (401, 403, 404).
    Unauthorized,
    Forbidden,
    /// Unknown, or not visible to the caller (so ids cannot be probed).
    NotFound,

    // State conflicts (409).
    /// Any other conflict (a plain 409 from the framework).
    Conflict,
    /// A record with that key exists.
    AlreadyExists,
    UsernameTaken,
    ChatEnded,
    /// Another analyst accepted the chat first.
    AlreadyTaken,
    NotQueued,
    AlreadyQueued,
    AlreadyActive,
    InvalidState,
    NotYourChat,
    NoAnalystsOnline,
    AnalystOffline,
    AtCapacity,

    // Slow down or try later (429, 503).
    /// Too many in a short time (sign-ins, messages, typing): slow down.
    RateLimited,
    /// A person's allowance for a longer period (chats an hour, bytes a day) is used up.
    QuotaExceeded,
    /// The database is out of reach, or the instance is draining.
    Unavailable,

    // Our fault (500).
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sign in first")]
    Unauthorized,
    /// Credentials were given and are not good: what is wrong with them (`401`).
    #[error("{0}")]
    BadCredentials(Cow<'static, str>),
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is valid but the state it acts on does not allow it.
    #[error("{message}")]
    Conflict {
        code: ErrorCode,
        message: Cow<'static, str>,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: Cow<'static, str>,
    },
    #[error("{0}")]
    TooLarge(Cow<'static, str>),
    /// Too many attempts or messages in a short time (`code` `rate_limited`), or an
    /// allowance used up (`quota_exceeded`); try again after `retry_after`.
    #[error("{message}")]
    TooManyRequests {
        code: ErrorCode,
        message: Cow<'static, str>,
        retry_after: std::time::Duration,
    },
    #[error("{0}")]
    UnsupportedMedia(Cow<'static, str>),
    /// The database is out of reach now; the same request may succeed shortly.
    #[error("the database is unavailable, try again shortly")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Storage failed; the cause is for the log.
    #[error("database error")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn conflict(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn too_many(
        message: impl Into<Cow<'static, str>>,
        retry_after: std::time::Duration,
    ) -> Self {
        Self::TooManyRequests {
            code: ErrorCode::RateLimited,
            message: message.into(),
            retry_after,
        }
    }

    /// A person's allowance for a period is used up; more after `retry_after`.
    pub fn quota_exceeded(
        message: impl Into<Cow<'static, str>>,
        retry_after: std::time::Duration,
    ) -> Self {
        Self::TooManyRequests {
            code: ErrorCode::QuotaExceeded,
            message: message.into(),
            retry_after,
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// An internal failure, with what was being done when it happened.
    pub fn internal(
        context: &'static str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Internal(anyhow::Error::new(e).context(context))
    }

    /// Stable code for clients, one per kind of failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthorized | Self::BadCredentials(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict { code, .. } => *code,
            Self::Invalid { .. } => ErrorCode::Invalid,
            Self::TooLarge(_) => ErrorCode::TooLarge,
            Self::TooManyRequests { code, .. } => *code,
            Self::UnsupportedMedia(_) => ErrorCode::UnsupportedMediaType,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Database(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The error and every cause under it, `outer: inner: innermost`, for the log.
    pub fn chain(&self) -> String {
        if let Self::Internal(e) = self {
            // anyhow's alternate form already walks its causes.
            return format!("{e:#}");
        }
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            // Some errors repeat their source in their own message: say each thing once.
            let said = e.to_string();
            if !text.contains(&said) {
                text.push_str(": ");
                text.push_str(&said);
            }
            cause = e.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_the_contract_writes_them() {
        assert_eq!(ErrorCode::NotYourChat.as_str(), "not_your_chat");
        assert_eq!(
            ErrorCode::UnsupportedMediaType.as_str(),
            "unsupported_media_type"
        );
        assert_eq!(
            serde_json::to_string(&ErrorCode::RateLimited).unwrap(),
            "\"rate_limited\""
        );
    }

    #[test]
    fn the_log_keeps_every_cause() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::Database(Box::new(io));
        let chain = e.chain();
        assert!(chain.starts_with("database error: "), "{chain}");
        assert!(chain.contains("disk on fire"), "{chain}");
        let e = Error::Internal(anyhow::anyhow!("root cause").context("saving a file"));
        assert_eq!(e.chain(), "saving a file: root cause");
    }
}
