//! Row mapping: how typed ids and named enums are stored (integers and lowercase text)
//! and how rows become records. sqlx's derives cannot be used on domain types without
//! tying the domain to SQL, so the column impls are written here, once per kind.

use sqlx::Database;
use sqlx::any::{Any, AnyRow, AnyTypeInfo, AnyValueRef};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Decode, Encode, Row, Type};

use crate::domain::article::ArticleOrigin;
use crate::domain::availability::PresenceStatus;
use crate::domain::call::{CallStatus, Person};
use crate::domain::channel::{CallSource, ChannelKind};
use crate::domain::chat::ChatStatus;
use crate::domain::event::ChatEvent;
use crate::domain::ids::{
    ArticleId, AttachmentId, CallId, CannedId, ChannelId, ChatId, EventId, UserId, WebhookId,
};
use crate::domain::insights::CallHistory;
use crate::domain::message::{Author, AuthorRole, EventKind};
use crate::domain::user::{TokenKind, User, parse_roles};
use crate::store::{AnalystLoad, CallRecord, ChatRecord, StoredEvent};

/// Stores `$t` as the column type of `$inner`: `$to` turns a value into one (`v` is the
/// value), `$from` turns one read back into a value (`x` is what was read).
macro_rules! column {
    ($t:ty as $inner:ty, |$v:ident| $to:expr, |$x:ident| $from:expr) => {
        impl Type<Any> for $t {
            fn type_info() -> AnyTypeInfo {
                <$inner as Type<Any>>::type_info()
            }
            fn compatible(ty: &AnyTypeInfo) -> bool {
                <$inner as Type<Any>>::compatible(ty)
            }
        }
        impl<'q> Encode<'q, Any> for $t {
            fn encode_by_ref(
                &self,
                buf: &mut <Any as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                let $v = self;
                <$inner as Encode<'q, Any>>::encode($to, buf)
            }
        }
        impl<'r> Decode<'r, Any> for $t {
            fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
                let $x = <$inner as Decode<'r, Any>>::decode(value)?;
                Ok($from)
            }
        }
    };
}

/// Row ids, stored as BIGINT/INTEGER.
macro_rules! integer_columns {
    ($($id:ident),*) => {$(
        column!($id as i64, |v| v.0, |x| $id(x));
    )*};
}

integer_columns!(
    UserId, CallId, ChatId, EventId, CannedId, ChannelId, WebhookId
);

/// Enums stored as their `strum` text; a value this build does not know is refused
/// rather than guessed.
macro_rules! enum_columns {
    ($($t:ident),*) => {$(
        column!($t as String, |v| v.as_str().to_owned(), |x| x.parse::<$t>().map_err(|_| {
            format!("unknown {} {x:?} in the database", stringify!($t))
        })?);
    )*};
}

enum_columns!(
    ChatStatus,
    CallStatus,
    AuthorRole,
    EventKind,
    ArticleOrigin,
    TokenKind,
    PresenceStatus,
    ChannelKind,
    CallSource
);

column!(ArticleId as String, |v| v.as_str().to_owned(), |x| {
    ArticleId::parse(&x).map_err(|e| format!("article id {x:?} {e}"))?
});
column!(AttachmentId as String, |v| v.as_str().to_owned(), |x| {
    AttachmentId::parse(&x).map_err(|e| format!("attachment id {x:?} {e}"))?
});

/// Chats with their people and the call's description.
pub const CHAT_SELECT: &str = "SELECT c.id, c.call_id, c.status, c.last_seq, c.created_at, c.queued_at, \
     c.accepted_article, c.accepted_at, c.first_response_at, \
     u.id AS user_id, u.username AS user_username, u.display_name AS user_name, \
     a.id AS analyst_id, a.username AS analyst_username, a.display_name AS analyst_name, \
     k.description, k.source \
     FROM chats c JOIN users u ON u.id = c.user_id LEFT JOIN users a ON a.id = c.analyst_id \
     JOIN calls k ON k.id = c.call_id";

pub const CALL_SELECT: &str = "SELECT k.id, k.source, k.status, k.description, k.resolved_by, \
     k.resolution, k.transcript, k.created_at, k.updated_at, \
     u.id AS user_id, u.username AS user_username, u.display_name AS user_name \
     FROM calls k JOIN users u ON u.id = k.user_id";

pub const EVENT_COLUMNS: &str = "id, chat_id, seq, kind, author_role, author_id, author_name, body, \
     client_id, payload, created_at";

pub const USER_COLUMNS: &str = "id, username, display_name, roles";

pub const ARTICLE_COLUMNS: &str = "id, title, source, origin, content_hash, updated_at";

pub const ATTACHMENT_COLUMNS: &str =
    "id, call_id, chat_id, uploader_id, name, content_type, size, sha256, created_at";

/// The person whose columns are `{prefix}_id`, `{prefix}_username` and `{prefix}_name`.
fn person(row: &AnyRow, prefix: &str) -> sqlx::Result<Option<Person>> {
    let id: Option<UserId> = row.try_get(format!("{prefix}_id").as_str())?;
    let Some(id) = id else { return Ok(None) };
    Ok(Some(Person {
        id,
        username: row.try_get(format!("{prefix}_username").as_str())?,
        name: row.try_get(format!("{prefix}_name").as_str())?,
    }))
}

fn missing(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{what}: no user").into())
}

pub fn chat(row: &AnyRow) -> sqlx::Result<ChatRecord> {
    Ok(ChatRecord {
        id: row.try_get("id")?,
        call_id: row.try_get("call_id")?,
        user: person(row, "user")?.ok_or_else(|| missing("chat"))?,
        analyst: person(row, "analyst")?,
        status: row.try_get("status")?,
        last_seq: row.try_get("last_seq")?,
        description: row.try_get("description")?,
        source: row.try_get("source")?,
        created_at: row.try_get("created_at")?,
        queued_at: row.try_get("queued_at")?,
        accepted_article: row.try_get("accepted_article")?,
        accepted_at: row.try_get("accepted_at")?,
        first_response_at: row.try_get("first_response_at")?,
    })
}

pub fn call(row: &AnyRow) -> sqlx::Result<CallRecord> {
    Ok(CallRecord {
        id: row.try_get("id")?,
        user: person(row, "user")?.ok_or_else(|| missing("call"))?,
        source: row.try_get("source")?,
        status: row.try_get("status")?,
        description: row.try_get("description")?,
        resolved_by: row.try_get("resolved_by")?,
        resolution: row.try_get("resolution")?,
        transcript: row.try_get("transcript")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub fn event(row: &AnyRow) -> sqlx::Result<StoredEvent> {
    let role: Option<AuthorRole> = row.try_get("author_role")?;
    let author = match role {
        Some(role) => Some(Author {
            role,
            name: row
                .try_get::<Option<String>, _>("author_name")?
                .unwrap_or_default(),
            id: row.try_get("author_id")?,
        }),
        None => None,
    };
    let payload: Option<String> = row.try_get("payload")?;
    let event = ChatEvent::from_stored(
        row.try_get("kind")?,
        author,
        row.try_get("body")?,
        row.try_get("client_id")?,
        payload.as_deref(),
    )
    .map_err(|e| sqlx::Error::Decode(e.into()))?;
    Ok(StoredEvent {
        id: row.try_get("id")?,
        chat_id: row.try_get("chat_id")?,
        seq: row.try_get("seq")?,
        event,
        created_at: row.try_get("created_at")?,
    })
}

pub fn call_history(row: &AnyRow) -> sqlx::Result<CallHistory> {
    let status: CallStatus = row.try_get("status")?;
    let accepted: Option<String> = row.try_get("accepted_article")?;
    Ok(CallHistory {
        call_id: row.try_get("call_id")?,
        logged_at: row.try_get("created_at")?,
        resolved: status == CallStatus::Resolved,
        accepted_suggestion: accepted.is_some(),
        queued_at: row.try_get("queued_at")?,
        accepted_at: row.try_get("accepted_at")?,
        first_response_at: row.try_get("first_response_at")?,
        ended_at: row.try_get("ended_at")?,
        ended_from: row.try_get("ended_from")?,
        analyst: row.try_get("analyst")?,
        rating: row.try_get("rating")?,
    })
}

pub fn analyst_load(row: &AnyRow) -> sqlx::Result<AnalystLoad> {
    let status: PresenceStatus = row.try_get("status")?;
    Ok(AnalystLoad {
        analyst: person(row, "analyst")?.ok_or_else(|| missing("analyst load"))?,
        online: status.is_online(),
        max_chats: row.try_get("max_chats")?,
        active_chats: row.try_get("active_chats")?,
    })
}

pub fn user(row: &AnyRow) -> sqlx::Result<User> {
    let roles: String = row.try_get("roles")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        roles: parse_roles(&roles),
    })
}

/// Maps every row, failing on the first that does not decode.
pub fn all<T>(rows: &[AnyRow], map: fn(&AnyRow) -> sqlx::Result<T>) -> sqlx::Result<Vec<T>> {
    rows.iter().map(map).collect()
}
