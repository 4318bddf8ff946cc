//! The one error type of the engine. Each variant maps to a stable machine-readable code
//! and an HTTP status (see `http::error`); internal details are logged, never returned.

use std::borrow::Cow;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sign in first")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is valid but the state it acts on does not allow it.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: Cow<'static, str>,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: Cow<'static, str>,
    },
    #[error("{0}")]
    TooLarge(Cow<'static, str>),
    #[error("{0}")]
    UnsupportedMedia(Cow<'static, str>),
    #[error("the database is unavailable, try again shortly")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// Stable code for clients, one per kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict { code, .. } => code,
            Self::Invalid { .. } => "invalid",
            Self::TooLarge(_) => "too_large",
            Self::UnsupportedMedia(_) => "unsupported_media_type",
            Self::Unavailable(_) => "unavailable",
            Self::Database(_) | Self::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::conflict("already_exists", "that already exists")
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(e)
            }
            _ => Self::Database(e),
        }
    }
}
