//! Signing in with a password, under limits that slow guessing without letting anyone
//! lock a colleague out: failures are counted per address (IPv6 by /64), per device
//! cookie for browsers that signed in to the account before, and per account only for
//! other clients (see [`device_cookies`](super::device_cookies)). Argon2 checks run a
//! bounded number at a time, so a burst of attempts cannot spike memory.

use std::net::{IpAddr, Ipv6Addr};

use super::AccountService;
use super::device_cookies::{DeviceKey, KEY_NAME};
use super::users::{DUMMY_HASH, Token, verify_password};
use crate::domain::user::{TokenKind, User};
use crate::error::{Error, Result};
use crate::store::LoginRecord;

/// Longest username a sign-in is looked at with: longer ones are refused before any
/// work (no hashing, no limiter key, nothing logged), since no account can have one.
pub const MAX_USERNAME_CHARS: usize = 64;

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    /// The browser session's bearer token.
    pub token: Token,
    /// A new device cookie value for the browser that signed in
    /// ([`DEVICE_COOKIE`](super::device_cookies::DEVICE_COOKIE)).
    pub device_cookie: String,
}

/// Where a sign-in attempt comes from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attempt<'a> {
    /// The client's address, when known.
    pub from: Option<IpAddr>,
    /// The device cookie the client sent, if any.
    pub device_cookie: Option<&'a str>,
}

/// The key failures from `ip` are counted under: IPv4 addresses as they are (an
/// IPv4-mapped IPv6 address as its IPv4 one), IPv6 addresses by their /64 network, which
/// one subscriber is usually given whole (RFC 6177), so that hopping within it does not
/// give a guesser fresh budgets.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        },
    }
}

impl AccountService {
    /// The key that signs device cookies, read from (or, on a new database, created in)
    /// the store on first use.
    async fn device_key(&self) -> Result<&DeviceKey> {
        self.device_key
            .get_or_try_init(|| async {
                let stored = self
                    .core
                    .store
                    .shared_secret(KEY_NAME, &DeviceKey::generate_hex(), self.core.now())
                    .await?;
                DeviceKey::from_hex(&stored).ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!(
                        "the stored device-cookie key is not 32 bytes of hex"
                    ))
                })
            })
            .await
    }

    /// Checks a username and password and opens a browser session.
    ///
    /// Before any password is checked, a token is taken from the attempt's address and
    /// from its device cookie's budget (a valid cookie for this account) or else the
    /// account's budget for untrusted clients; a success gives them back.
    ///
    /// # Errors
    /// `Invalid` for a username over [`MAX_USERNAME_CHARS`]; `TooManyRequests` (with the
    /// wait) when a budget is spent; `Unauthorized` for a wrong name or password;
    /// `Forbidden` for a disabled account given its right password.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        attempt: Attempt<'_>,
    ) -> Result<SignedIn> {
        if username.chars().count() > MAX_USERNAME_CHARS {
            return Err(Error::invalid("username", "must be at most 64 characters"));
        }
        // One budget for every spelling of a name; the cookie names the account exactly.
        let account = username.to_lowercase();
        let key = self.device_key().await?;
        let device = attempt
            .device_cookie
            .and_then(|cookie| key.verify(cookie, username))
            .map(str::to_owned);
        let address = attempt.from.map(address_key);
        let now = self.core.now();
        let limits = &self.limits;
        // Taken before the password is checked, so parallel guesses count too. The address
        // first: a refused address adds no per-account key, so a flood of made-up names
        // from one place cannot crowd real accounts' buckets out of memory.
        let by_address = match address {
            Some(ip) => limits.by_address.take(&ip, now).await?,
            None => Ok(()),
        };
        let by_client = match (by_address, &device) {
            (Err(wait), _) => Err(wait),
            (Ok(()), Some(nonce)) => limits.by_device.take(nonce, now).await?,
            (Ok(()), None) => limits.by_account.take(&account, now).await?,
        };
        if let Err(wait) = by_client {
            tracing::warn!(username = %account, from = ?attempt.from, trusted_device = device.is_some(),
                "sign-in refused: too many failed attempts");
            return Err(Error::too_many(
                "too many failed sign-in attempts; try again later",
                wait,
            ));
        }
        let record = self.core.store.login_record(username).await?;
        // A name without an account (or without a password) is checked against a dummy
        // hash, so that it takes as long as a wrong password.
        let (found, hash) = match record {
            Some(LoginRecord {
                user,
                password_hash: Some(hash),
                disabled,
            }) => (Some((user, disabled)), hash),
            _ => (None, DUMMY_HASH.to_owned()),
        };
        // The permit goes with the hash: a request dropped mid-check frees nothing early.
        let permit = self
            .password_checks
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::internal("waiting to check a password", e))?;
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_password(&password, &hash)
        })
        .await
        .map_err(|e| Error::internal("checking a password", e))?;
        let (user, disabled) = found.filter(|_| ok).ok_or(Error::Unauthorized)?;
        if disabled {
            return Err(Error::forbidden(
                "this account is disabled; ask an administrator",
            ));
        }
        match &device {
            Some(nonce) => limits.by_device.forget(nonce).await?,
            None => limits.by_account.forget(&account).await?,
        }
        if let Some(ip) = address {
            limits.by_address.give_back(&ip, self.core.now()).await?;
        }
        let hours = i64::from(self.core.settings.chat.session_hours);
        let expires = self.core.now() + hours * 3_600_000;
        let token = self
            .issue_token(&user, TokenKind::Session, Some(expires))
            .await?;
        let device_cookie = key.issue(&user.username);
        Ok(SignedIn {
            user,
            token,
            device_cookie,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_counted_by_host_or_ipv6_network() {
        let key = |s: &str| address_key(s.parse().unwrap()).to_string();
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::1"), "::");
    }
}
