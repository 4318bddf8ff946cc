//! Accounts and roles. `chat-user` is a permission handed out like a role; `admin` may do
//! whatever analysts and authors may.

use super::ids::UserId;
use crate::error::Error;

named_enum! {
    /// What an account may do; written in kebab case (`chat-user`).
    #[strum(serialize_all = "kebab-case")]
    pub enum Role {
        User,
        ChatUser,
        Analyst,
        /// Everything an analyst may do, plus watching any chat and the desk's insights.
        Supervisor,
        Author,
        Admin,
    }
}

impl Role {
    /// Parses a role someone typed, with an error that lists the roles.
    pub fn parse(text: &str) -> Result<Self, String> {
        super::parse_named("role", text)
    }
}

named_enum! {
    /// How a bearer token was issued: by `user add` or the admin API (`api`, expires after
    /// `chat.api_token_days`, or never when that is 0), or by signing in (`session`,
    /// expires after `chat.session_hours`).
    #[strum(serialize_all = "lowercase")]
    pub enum TokenKind {
        Api,
        Session,
    }
}

/// Parses the stored, space-separated role list.
pub fn parse_roles(stored: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = stored
        .split_whitespace()
        .filter_map(|r| r.parse().ok())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

pub fn format_roles(roles: &[Role]) -> String {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
}

impl User {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn can_chat(&self) -> bool {
        self.has(Role::ChatUser)
    }

    pub fn is_analyst(&self) -> bool {
        self.has(Role::Analyst) || self.has(Role::Supervisor) || self.has(Role::Admin)
    }

    /// Proof that this person works the desk (analyst, supervisor or admin), for what only
    /// analysts may do.
    ///
    /// # Errors
    /// `forbidden`, with `why` as its message, for anyone else.
    pub fn as_analyst(&self, why: &'static str) -> Result<Analyst<'_>, Error> {
        if self.is_analyst() {
            Ok(Analyst(self))
        } else {
            Err(Error::forbidden(why))
        }
    }

    /// May read the desk's insights (supervisors and admins).
    pub fn reads_insights(&self) -> bool {
        self.has(Role::Supervisor) || self.has(Role::Admin)
    }

    /// Proof that this person reads the desk's insights, checked before anything else a
    /// request carries is looked at.
    ///
    /// # Errors
    /// `forbidden` for anyone but supervisors and admins.
    pub fn as_insights_reader(&self) -> Result<InsightsReader, Error> {
        if self.reads_insights() {
            Ok(InsightsReader(()))
        } else {
            Err(Error::forbidden(
                "only supervisors and admins read the desk's insights",
            ))
        }
    }

    /// Proof that this person reads the knowledge gaps.
    ///
    /// # Errors
    /// `forbidden` for anyone but supervisors, admins and knowledge authors.
    pub fn as_gaps_reader(&self) -> Result<GapsReader, Error> {
        if self.reads_insights() || self.is_author() {
            Ok(GapsReader(()))
        } else {
            Err(Error::forbidden(
                "only supervisors, admins and knowledge authors read the knowledge gaps",
            ))
        }
    }

    /// May open any chat, whoever handles it, to watch (supervisors and admins).
    pub fn watches_any_chat(&self) -> bool {
        self.has(Role::Supervisor) || self.has(Role::Admin)
    }

    pub fn is_author(&self) -> bool {
        self.has(Role::Author) || self.has(Role::Admin)
    }
}

/// A [`User`] known to work the desk: only [`User::as_analyst`] makes one, so a function
/// taking it needs no role check of its own.
#[derive(Clone, Copy, Debug)]
pub struct Analyst<'a>(&'a User);

impl std::ops::Deref for Analyst<'_> {
    type Target = User;

    fn deref(&self) -> &User {
        self.0
    }
}

/// Made only by [`User::as_insights_reader`]: whoever holds one may read the insights.
#[derive(Clone, Copy, Debug)]
pub struct InsightsReader(());

/// Made only by [`User::as_gaps_reader`] (or from an [`InsightsReader`]): whoever holds
/// one may read the knowledge gaps.
#[derive(Clone, Copy, Debug)]
pub struct GapsReader(());

impl From<InsightsReader> for GapsReader {
    fn from(_: InsightsReader) -> Self {
        Self(())
    }
}

/// What people type to sign in: 1 to 64 ASCII letters, digits and `. _ - @`, so no
/// spaces and no look-alike tricks; not [`RESERVED_NAME`]. Checked once, by
/// [`Username::parse`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

/// What a transfer names the queue with (`{"to": "queue"}`), so no account may have it.
pub const RESERVED_NAME: &str = "queue";

impl Username {
    pub fn parse(name: &str) -> Result<Self, &'static str> {
        if name.is_empty() || name.len() > 64 {
            return Err("must be 1 to 64 characters");
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err("may contain only letters, digits and . _ - @");
        }
        if name == RESERVED_NAME {
            return Err("\"queue\" is reserved: a transfer names the queue with it");
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_storage() {
        let roles = parse_roles("chat-user user user bogus");
        assert_eq!(roles, vec![Role::User, Role::ChatUser]);
        assert_eq!(format_roles(&roles), "user chat-user");
    }

    #[test]
    fn admin_acts_as_analyst_and_author_but_needs_chat_user_to_chat() {
        let admin = User {
            id: UserId(1),
            username: "root".into(),
            display_name: "Root".into(),
            roles: vec![Role::Admin],
        };
        assert!(admin.is_analyst() && admin.is_author() && !admin.can_chat());
    }

    #[test]
    fn supervisors_are_analysts_who_watch_any_chat() {
        let supervisor = User {
            id: UserId(2),
            username: "sam".into(),
            display_name: "Sam".into(),
            roles: vec![Role::Supervisor],
        };
        assert!(supervisor.is_analyst() && supervisor.watches_any_chat());
        assert!(!supervisor.is_author() && !supervisor.can_chat());
    }

    #[test]
    fn unknown_roles_list_the_known_ones() {
        assert_eq!(Role::parse("chat-user"), Ok(Role::ChatUser));
        assert_eq!(
            Role::parse("root").unwrap_err(),
            "unknown role \"root\"; expected one of user, chat-user, analyst, supervisor, author, admin"
        );
    }

    #[test]
    fn usernames_are_checked() {
        assert!(Username::parse("alice.smith@corp").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse("queue").is_err(), "reserved for transfers");
    }
}
