//! Device cookies, as OWASP describes them ("Slow Down Online Guessing Attacks with Device
//! Cookies", OWASP Cheat Sheet Series): a browser that has signed in to an account keeps
//! a signed cookie naming that account, and sign-in failures are counted per cookie for
//! such browsers and per account only for everyone else. Someone guessing erin's password
//! from elsewhere then locks out the untrusted clients of erin's account, never erin's
//! own browser.
//!
//! The cookie is `LOGIN:NONCE:SIGNATURE` with `SIGNATURE = HMAC-SHA256(key,
//! "LOGIN:NONCE")` in hex (the cheat sheet's `LOGIN,NONCE,SIGNATURE`, with `:` since a
//! comma may not appear in a cookie value, RFC 6265 §4.1.1). Usernames hold no `:`. The
//! key is stored in the database, so every instance on it accepts the others' cookies.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The cookie's name.
pub const DEVICE_COOKIE: &str = "chatdesk_device";
/// How long a browser stays trusted after its last successful sign-in: a year.
pub const DEVICE_COOKIE_MAX_AGE_SECS: u64 = 365 * 24 * 3600;
/// The name of the key among the database's shared secrets.
pub(super) const KEY_NAME: &str = "device_cookie_hmac_sha256";

/// The key that signs device cookies: 32 random bytes.
#[derive(Clone)]
pub struct DeviceKey([u8; 32]);

impl DeviceKey {
    /// A fresh random key, in the hex form it is stored in.
    pub fn generate_hex() -> String {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        hex::encode(key)
    }

    /// The key from its stored hex form; `None` if it is not 32 bytes of hex.
    pub fn from_hex(stored: &str) -> Option<Self> {
        let bytes = hex::decode(stored).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    fn mac(&self, login: &str, nonce: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(login.as_bytes());
        mac.update(b":");
        mac.update(nonce.as_bytes());
        mac
    }

    /// A new cookie value for a browser that has just signed in as `login` (the username
    /// exactly as stored: names differing in case are different accounts).
    pub fn issue(&self, login: &str) -> String {
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        let signature = hex::encode(self.mac(login, &nonce).finalize().into_bytes());
        format!("{login}:{nonce}:{signature}")
    }

    /// The cookie's nonce (which names the browser) if the cookie was signed with this
    /// key for `login`; `None` for a forged, altered or other account's cookie. The
    /// signature is compared in constant time.
    pub fn verify<'c>(&self, cookie: &'c str, login: &str) -> Option<&'c str> {
        let mut parts = cookie.splitn(3, ':');
        let (named, nonce, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if named != login || nonce.len() != 32 {
            return None;
        }
        let signature = hex::decode(signature).ok()?;
        self.mac(named, nonce).verify_slice(&signature).ok()?;
        Some(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_names_one_account_and_cannot_be_altered() {
        let key = DeviceKey::from_hex(&DeviceKey::generate_hex()).unwrap();
        let cookie = key.issue("erin");
        let nonce = key.verify(&cookie, "erin").expect("valid for erin");
        assert_eq!(nonce.len(), 32);
        assert_ne!(key.issue("erin"), cookie, "each sign-in gets its own nonce");
        assert_eq!(key.verify(&cookie, "frank"), None, "another account");
        let forged = cookie.replacen("erin", "frank", 1);
        assert_eq!(key.verify(&forged, "frank"), None, "renamed");
        let mut altered = cookie.clone();
        altered.replace_range(5..6, if &cookie[5..6] == "0" { "1" } else { "0" });
        assert_eq!(key.verify(&altered, "erin"), None, "another nonce");
        let other_key = DeviceKey::from_hex(&DeviceKey::generate_hex()).unwrap();
        assert_eq!(other_key.verify(&cookie, "erin"), None, "another key");
        assert_eq!(key.verify("erin", "erin"), None);
        assert_eq!(key.verify("", "erin"), None);
    }

    #[test]
    fn keys_round_trip_through_storage_only_when_whole() {
        assert!(DeviceKey::from_hex(&DeviceKey::generate_hex()).is_some());
        assert!(DeviceKey::from_hex("abcd").is_none());
        assert!(DeviceKey::from_hex("not hex").is_none());
    }
}
