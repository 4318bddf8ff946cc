//! What storage reports when it cannot do what was asked, in storage's own terms: no such
//! record, a write that would break a rule the data keeps, a database out of reach, or a
//! failure. What each means to the person asking (a status, a code, the words) is decided
//! above: the engine turns these into its [`Error`](crate::error::Error).

/// Any failure boxed: what a [`StoreError::Failed`] carries when it is not sqlx's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record; the field names its kind (`chat`, `call`).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The write would break `Constraint`; nothing was written.
    #[error("the write would break a constraint: {0:?}")]
    Conflict(Constraint),
    /// The database is out of reach now (busy past its timeout, disconnected, shutting
    /// down, the pool exhausted): the same request may succeed shortly.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a broken query, a row that does not decode, a writer that stopped.
    #[error("database error")]
    Failed(#[source] BoxError),
}

/// The rules of the data a write can break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// One account per username.
    UniqueUsername,
    /// Events are added only to chats that have not ended.
    ChatNotEnded,
    /// Any other unique key.
    Unique,
}

/// The result of a storage operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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

impl From<sqlx::Error> for StoreError {
    /// Unique-key violations become [`Constraint::Unique`]; operations that can race on a
    /// key recognise their own constraint first (see `sql::RacedKey`).
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict(Constraint::Unique)
            }
            sqlx::Error::Database(db) if db.code().as_deref().is_some_and(out_of_reach) => {
                Self::Unavailable(e)
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e),
            _ => Self::Failed(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_disconnected_databases_are_unavailable() {
        for code in ["5", "6", "517", "262", "08006", "57P01", "53300"] {
            assert!(out_of_reach(code), "{code}");
        }
        for code in ["19", "2067", "23505", "42P01", "55P03"] {
            assert!(!out_of_reach(code), "{code}");
        }
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_bad_row_a_failure() {
        let io = sqlx::Error::Io(std::io::Error::other("reset"));
        assert!(matches!(StoreError::from(io), StoreError::Unavailable(_)));
        let bad = sqlx::Error::Decode("not a number".into());
        assert!(matches!(StoreError::from(bad), StoreError::Failed(_)));
    }
}
