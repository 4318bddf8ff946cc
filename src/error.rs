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
    /// Too many attempts or messages in a short time; try again after `retry_after`.
    #[error("{message}")]
    TooManyRequests {
        message: Cow<'static, str>,
        retry_after: std::time::Duration,
    },
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

    pub fn too_many(
        message: impl Into<Cow<'static, str>>,
        retry_after: std::time::Duration,
    ) -> Self {
        Self::TooManyRequests {
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

    /// Stable code for clients, one per kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict { code, .. } => code,
            Self::Invalid { .. } => "invalid",
            Self::TooLarge(_) => "too_large",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::UnsupportedMedia(_) => "unsupported_media_type",
            Self::Unavailable(_) => "unavailable",
            Self::Database(_) | Self::Internal(_) => "internal",
        }
    }
}

/// Database error codes that mean "not now" rather than "never": SQLite busy or locked
/// (5, 6, and their extended codes) past the busy timeout; PostgreSQL connection failures
/// (class 08), shutdowns (57P01 to 57P03) and too many connections (53300).
fn out_of_reach(code: &str) -> bool {
    if code.len() == 5 {
        // A SQLSTATE (SQLite's codes have at most four digits).
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300");
    }
    code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::conflict("already_exists", "that already exists")
            }
            sqlx::Error::Database(db) if db.code().as_deref().is_some_and(out_of_reach) => {
                Self::Unavailable(e)
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e),
            _ => Self::Database(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::out_of_reach;

    #[test]
    fn busy_and_disconnected_databases_are_unavailable() {
        for code in ["5", "6", "517", "262", "08006", "57P01", "53300"] {
            assert!(out_of_reach(code), "{code}");
        }
        for code in ["19", "2067", "23505", "42P01", "55P03"] {
            assert!(!out_of_reach(code), "{code}");
        }
    }
}
