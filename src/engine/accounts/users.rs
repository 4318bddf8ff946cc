//! Accounts: users with argon2-hashed passwords, and bearer tokens that are stored only
//! as SHA-256 hashes (a leaked table does not leak sessions).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::AccountService;
use crate::domain::ids::UserId;
use crate::domain::now_millis;
use crate::domain::user::{Role, TokenKind, User, Username, format_roles, parse_roles};
use crate::error::{Error, ErrorCode, Result};
use crate::events;
use crate::store::{Constraint, NewToken, NewUser, StoreError, TokenOwner};

/// What an admin changes of an account; `None` leaves it as it is.
#[derive(Clone, Debug, Default)]
pub struct AccountChange {
    pub roles: Option<Vec<Role>>,
    pub disabled: Option<bool>,
}

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

pub(super) fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("hashing a password: {e}")))
}

pub(super) fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the user does not exist, so that a wrong username takes
/// as long as a wrong password.
pub(super) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0jB1pxYvLDyMPGZ8vH1JMaYxWzGMyE8BtOyyHQn9Q9k";

impl AccountService {
    /// Creates an account and its first API token (valid for `chat.api_token_days`).
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
            Some(p) => {
                let permit = self
                    .password_checks
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| Error::internal("waiting to hash a password", e))?;
                Some(
                    tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        hash_password(&p)
                    })
                    .await
                    .map_err(|e| Error::internal("hashing a password", e))??,
                )
            }
            None => None,
        };
        let taken = format!("the username {:?} is already taken", username.as_str());
        let user = self
            .core
            .store
            .create_user(
                &NewUser {
                    username,
                    display_name,
                    password_hash,
                    roles: roles.to_vec(),
                },
                self.core.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(Constraint::UniqueUsername) => {
                    Error::conflict(ErrorCode::UsernameTaken, taken)
                }
                e => e.into(),
            })?;
        let days = i64::from(self.core.settings.chat.api_token_days);
        let expires = (days > 0).then(|| self.core.now() + days * 86_400_000);
        let token = self.issue_token(&user, TokenKind::Api, expires).await?;
        Ok((user, token))
    }

    pub(super) async fn issue_token(
        &self,
        user: &User,
        kind: TokenKind,
        expires_at: Option<i64>,
    ) -> Result<Token> {
        let (token, hash) = new_token();
        self.core
            .store
            .insert_token(&NewToken {
                token_hash: &hash,
                user_id: user.id,
                kind,
                now: self.core.now(),
                expires_at,
            })
            .await?;
        Ok(token)
    }

    /// The user a bearer token or session cookie belongs to. Every authenticated request
    /// comes through here, which counts as a sign the user is still there (`liveness`).
    ///
    /// # Errors
    /// `Unauthorized` for an unknown or expired token, or a disabled account's.
    pub async fn authenticate(&self, token: &str) -> Result<User> {
        Ok(self.authenticate_session(token).await?.user)
    }

    /// As [`authenticate`](Self::authenticate), with the token's expiry, for sockets that
    /// stay open until it.
    pub async fn authenticate_session(&self, token: &str) -> Result<TokenOwner> {
        let owner = self
            .core
            .store
            .user_by_token(&hash_token(token), self.core.now())
            .await?
            .ok_or(Error::Unauthorized)?;
        self.core.liveness.seen(owner.user.id, self.core.now());
        Ok(owner)
    }

    /// Signs one session out (deletes its token) and closes the sockets opened with it.
    pub async fn logout(&self, token: &str) -> Result<()> {
        if let Some(user_id) = self.core.store.delete_token(&hash_token(token)).await? {
            self.announce_account_change(user_id);
        }
        Ok(())
    }

    /// Tells the sockets of `user_id` to check whether they may stay open (see
    /// [`AccessWatch`](super::AccessWatch)). Called after the change has committed.
    pub(super) fn announce_account_change(&self, user_id: UserId) {
        self.core.publish(events::account_changed_frame(user_id));
    }

    /// The account an admin manages, by name.
    async fn managed_account(&self, admin: &User, username: &str) -> Result<User> {
        if !admin.has(Role::Admin) {
            return Err(Error::forbidden("only admins manage accounts"));
        }
        self.core
            .store
            .user_by_username(username)
            .await?
            .ok_or(Error::NotFound("user"))
    }

    /// Changes an account: replaces its roles (sockets that needed a removed one close)
    /// and disables it (it cannot sign in, its tokens stop working, its sessions are
    /// deleted and its sockets close) or enables it again (its API tokens work again).
    /// Everything is checked before anything is written, and the account's sockets are
    /// told even when a write fails halfway.
    ///
    /// # Errors
    /// `Forbidden` unless `admin` is an admin, or when an admin would disable themself or
    /// drop their own admin role; `Invalid` for an empty change or no roles; `NotFound`
    /// for an unknown username.
    pub async fn update_account(
        &self,
        admin: &User,
        username: &str,
        change: &AccountChange,
    ) -> Result<User> {
        let mut user = self.managed_account(admin, username).await?;
        if change.roles.is_none() && change.disabled.is_none() {
            return Err(Error::invalid(
                "disabled",
                "give `disabled`, `roles` or both",
            ));
        }
        if let Some(roles) = &change.roles {
            if roles.is_empty() {
                return Err(Error::invalid("roles", "give the user at least one role"));
            }
            if user.id == admin.id && !roles.contains(&Role::Admin) {
                return Err(Error::forbidden(
                    "admins cannot remove their own admin role",
                ));
            }
        }
        if change.disabled == Some(true) && user.id == admin.id {
            return Err(Error::forbidden("admins cannot disable their own account"));
        }
        let written = async {
            if let Some(roles) = &change.roles {
                self.core.store.set_roles(user.id, roles).await?;
                user.roles = parse_roles(&format_roles(roles));
            }
            if let Some(disabled) = change.disabled {
                self.core
                    .store
                    .set_disabled(user.id, disabled.then(now_millis))
                    .await?;
                if disabled {
                    self.core
                        .store
                        .delete_tokens_of(user.id, Some(TokenKind::Session))
                        .await?;
                }
                let state = if disabled { "disabled" } else { "enabled" };
                tracing::info!(username = %user.username, by = %admin.username, state, "account");
            }
            Ok::<_, Error>(())
        }
        .await;
        self.announce_account_change(user.id);
        written.map(|()| user)
    }

    /// Revokes every session and API token of an account; returns how many there were.
    ///
    /// # Errors
    /// `Forbidden` unless `admin` is an admin; `NotFound` for an unknown username.
    pub async fn revoke_tokens(&self, admin: &User, username: &str) -> Result<u64> {
        let user = self.managed_account(admin, username).await?;
        let revoked = self.core.store.delete_tokens_of(user.id, None).await?;
        tracing::info!(username = %user.username, by = %admin.username, revoked, "tokens revoked");
        self.announce_account_change(user.id);
        Ok(revoked)
    }

    /// Deletes expired sessions and tokens, and the rate-limit rows of whole budgets;
    /// returns how many of each. Run now and then by the service (see `startup`).
    pub async fn sweep_expired(&self) -> Result<(u64, u64)> {
        let store = &self.core.store;
        let tokens = store.delete_expired_tokens(self.core.now()).await?;
        Ok((tokens, store.sweep_limits().await?))
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
