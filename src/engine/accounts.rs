//! Accounts: users with argon2-hashed passwords, and bearer tokens that are stored only
//! as SHA-256 hashes (a leaked table does not leak sessions).

use std::net::IpAddr;
use std::time::Instant;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::Engine;
use crate::domain::now_millis;
use crate::domain::user::{Role, TokenKind, User, Username};
use crate::error::{Error, Result};
use crate::store::{NewToken, NewUser};

/// A freshly issued token. Shown once; only its hash is kept.
pub struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

fn new_token() -> (Token, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = format!("cdt_{}", hex::encode(bytes));
    let hash = hash_token(&token);
    (Token(token), hash)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("hashing a password: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the user does not exist, so that a wrong username takes
/// as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0jB1pxYvLDyMPGZ8vH1JMaYxWzGMyE8BtOyyHQn9Q9k";

impl Engine {
    /// Creates an account and its first API token.
    #[tracing::instrument(skip_all, fields(username = %username), err(level = "debug"))]
    pub async fn create_user(
        &self,
        username: &str,
        display_name: Option<&str>,
        password: Option<String>,
        roles: &[Role],
    ) -> Result<(User, Token)> {
        let username = Username::parse(username).map_err(|m| Error::invalid("username", m))?;
        if roles.is_empty() {
            return Err(Error::invalid("roles", "give the user at least one role"));
        }
        let display_name = display_name.map(str::trim).filter(|n| !n.is_empty());
        let display_name = display_name.unwrap_or(username.as_str()).to_owned();
        if display_name.chars().count() > 100 {
            return Err(Error::invalid(
                "display_name",
                "must be at most 100 characters",
            ));
        }
        let password_hash = match password {
            Some(p) if p.chars().count() < 8 => {
                return Err(Error::invalid("password", "must be at least 8 characters"));
            }
            Some(p) => Some(
                tokio::task::spawn_blocking(move || hash_password(&p))
                    .await
                    .map_err(|e| Error::internal("hashing a password", e))??,
            ),
            None => None,
        };
        let user = self
            .store
            .create_user(
                &NewUser {
                    username,
                    display_name,
                    password_hash,
                    roles: roles.to_vec(),
                },
                now_millis(),
            )
            .await?;
        let token = self.issue_token(&user, TokenKind::Api, None).await?;
        Ok((user, token))
    }

    async fn issue_token(
        &self,
        user: &User,
        kind: TokenKind,
        expires_at: Option<i64>,
    ) -> Result<Token> {
        let (token, hash) = new_token();
        self.store
            .insert_token(&NewToken {
                token_hash: &hash,
                user_id: user.id,
                kind,
                now: now_millis(),
                expires_at,
            })
            .await?;
        Ok(token)
    }

    /// Checks a username and password and opens a browser session. Failed attempts are
    /// limited per account and per address (`from`), before any password is checked.
    #[tracing::instrument(skip_all, fields(username = %username))]
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        from: Option<IpAddr>,
    ) -> Result<(User, Token)> {
        let account = username.to_lowercase();
        let now = Instant::now();
        let limits = &self.limits;
        // Tokens are taken before the password is checked, so parallel guesses count too;
        // a success gives them back.
        let by_account = limits.logins_by_account.take(&account, now);
        let by_address = from.map_or(Ok(()), |ip| limits.logins_by_address.take(&ip, now));
        if let Err(wait) = by_account.and(by_address) {
            tracing::warn!(username = %username, ?from, "sign-in refused: too many failed attempts");
            return Err(Error::too_many(
                "too many failed sign-in attempts; try again later",
                wait,
            ));
        }
        let record = self.store.login_record(username).await?;
        let (user, hash) = match record {
            Some((user, Some(hash))) => (Some(user), hash),
            _ => (None, DUMMY_HASH.to_owned()),
        };
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| Error::internal("checking a password", e))?;
        let user = user.filter(|_| ok).ok_or(Error::Unauthorized)?;
        limits.logins_by_account.forget(&account);
        if let Some(ip) = from {
            limits.logins_by_address.give_back(&ip, Instant::now());
        }
        let hours = i64::from(self.settings.chat.session_hours);
        let expires = now_millis() + hours * 3_600_000;
        let token = self
            .issue_token(&user, TokenKind::Session, Some(expires))
            .await?;
        Ok((user, token))
    }

    /// The user a bearer token or session cookie belongs to. Every authenticated request
    /// comes through here, which counts as a sign the user is still there (`liveness`).
    pub async fn authenticate(&self, token: &str) -> Result<User> {
        let user = self
            .store
            .user_by_token(&hash_token(token), now_millis())
            .await?
            .ok_or(Error::Unauthorized)?;
        self.liveness.seen(user.id);
        Ok(user)
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        self.store.delete_token(&hash_token(token)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a.0, b.0);
        assert_eq!(a.0.len(), 4 + 64);
        assert_eq!(hash_token(&a.0), ha);
        assert!(!format!("{a:?}").contains(&a.0));
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
