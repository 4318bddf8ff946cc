//! Domain types and rules: who may do what, how a chat moves through its states, how
//! availability reads to a user. Nothing here knows about HTTP or SQL.

/// Declares an enum whose variants are stored and sent as text: the text forms come from
/// one `#[strum(serialize_all = ...)]` rule given with the enum, and serve `Display`,
/// `FromStr`, serde (through `Display`/`FromStr`) and an `as_str` method.
macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident,)* }) => {
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            strum::Display,
            strum::EnumString,
            strum::IntoStaticStr,
            strum::VariantArray,
            strum::VariantNames,
            serde_with::SerializeDisplay,
            serde_with::DeserializeFromStr,
        )]
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    };
}
pub(crate) use named_enum;

pub mod article;
pub mod availability;
pub mod call;
pub mod canned;
pub mod channel;
pub mod chat;
pub mod event;
pub mod ids;
pub mod insights;
pub mod message;
pub mod rating;
pub mod user;
pub mod wait;
pub mod webhook;

use std::str::FromStr;

/// Parses one of an enum's text forms (a `strum` derive), with an error that lists them.
pub fn parse_named<T: FromStr + strum::VariantNames>(what: &str, text: &str) -> Result<T, String> {
    text.parse().map_err(|_| {
        format!(
            "unknown {what} {text:?}; expected one of {}",
            T::VARIANTS.join(", ")
        )
    })
}

/// Milliseconds since the Unix epoch: the one time representation in storage and events.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("time fits in i64")
}

/// RFC 3339 text for a stored timestamp, as clients see it.
/// `text` with its first letter in upper case ("vpn drops" → "Vpn drops").
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A moment to the millisecond, as views carry it until a page or a body formats it. Its
/// text form (`Display`, `FromStr`, and so serde) is RFC 3339 in UTC
/// (`2026-11-24T01:40:12.5Z`; RFC 3339, section 5.6), the form every API body and every
/// stored payload has always used.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde_with::SerializeDisplay,
    serde_with::DeserializeFromStr,
)]
pub struct Timestamp(pub Millis);

impl Timestamp {
    /// The moment in UTC, for formatting.
    pub fn utc(self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rfc3339(self.0))
    }
}

impl std::str::FromStr for Timestamp {
    type Err = time::error::Parse;

    /// An RFC 3339 time, in any offset; kept to the millisecond.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)?;
        Ok(Self((at.unix_timestamp_nanos() / 1_000_000) as Millis))
    }
}

/// `ms` as RFC 3339 in UTC (`1970-01-01T00:00:01.5Z`).
pub fn rfc3339(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formatting of a valid time")
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_renders_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_500), "1970-01-01T00:00:01.5Z");
    }

    #[test]
    fn timestamps_read_and_write_rfc_3339_to_the_millisecond() {
        use super::Timestamp;
        for ms in [0, 1_500, 1_764_000_000_123] {
            let json = serde_json::to_string(&Timestamp(ms)).unwrap();
            assert_eq!(json, format!("\"{}\"", super::rfc3339(ms)));
            assert_eq!(
                serde_json::from_str::<Timestamp>(&json).unwrap(),
                Timestamp(ms)
            );
        }
        let at: Timestamp = "2026-11-24T02:40:12.5+01:00".parse().unwrap();
        assert_eq!(at.to_string(), "2026-11-24T01:40:12.5Z");
        assert!("yesterday".parse::<Timestamp>().is_err());
    }
}
