//! Accounts and roles. `chat-user` is a permission handed out like a role; `admin` may do
//! whatever analysts and authors may.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    User,
    ChatUser,
    Analyst,
    Author,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::User,
        Role::ChatUser,
        Role::Analyst,
        Role::Author,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::ChatUser => "chat-user",
            Role::Analyst => "analyst",
            Role::Author => "author",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}; expected one of user, chat-user, analyst, author, admin"
                )
            })
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: i64,
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
        self.has(Role::Analyst) || self.has(Role::Admin)
    }

    pub fn is_author(&self) -> bool {
        self.has(Role::Author) || self.has(Role::Admin)
    }
}

/// A username is what people type to sign in: short, no spaces, no look-alike tricks.
pub fn validate_username(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err("may contain only letters, digits and . _ - @");
    }
    Ok(())
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
            id: 1,
            username: "root".into(),
            display_name: "Root".into(),
            roles: vec![Role::Admin],
        };
        assert!(admin.is_analyst() && admin.is_author() && !admin.can_chat());
    }

    #[test]
    fn usernames_are_checked() {
        assert!(validate_username("alice.smith@corp").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("a b").is_err());
        assert!(validate_username("<script>").is_err());
    }
}
