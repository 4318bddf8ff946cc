//! Direct Line tokens: JWTs (HS256, RFC 7519) signed with the key of the channel whose
//! secret vouched for the person. The header's `kid` names the channel; the claims name
//! the conversation and the person (`user`, which Web Chat reads as the person's id). A
//! removed channel's key is gone with it, and so are its tokens.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::ids::ChannelId;
use crate::store::ChannelRecord;

/// How long a token lasts, in seconds (Direct Line's `expires_in`).
pub const TOKEN_SECS: i64 = 1800;

/// Who issues the tokens, checked on the way back.
const ISSUER: &str = "chatdesk";

/// What a token vouches for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The person's id on the channel.
    pub user: String,
    /// Their name, as the secret's holder gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The conversation the token opens.
    pub conv: String,
    /// Always `chatdesk`.
    pub iss: String,
    /// Issued, in seconds since the epoch.
    pub iat: i64,
    /// Expires, in seconds since the epoch: [`TOKEN_SECS`] after `iat`.
    pub exp: i64,
}

impl Claims {
    /// Claims for `user` (named `name`) in conversation `conv`, issued at `now_secs`.
    pub fn new(user: &str, name: Option<&str>, conv: &str, now_secs: i64) -> Self {
        Self {
            user: user.to_owned(),
            name: name.map(str::to_owned),
            conv: conv.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now_secs,
            exp: now_secs + TOKEN_SECS,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired; refresh it before it does, or ask for a new one")]
    Expired,
    #[error("the token is not one chatdesk issued")]
    Invalid,
}

/// Signs `claims` with the channel's key.
pub fn issue(channel: &ChannelRecord, claims: &Claims) -> String {
    let header = Header {
        kid: Some(channel.id.to_string()),
        ..Header::new(Algorithm::HS256)
    };
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(channel.token_key.as_bytes()),
    )
    .expect("HS256 signing does not fail")
}

/// The channel a token names (its `kid`), read before it is checked.
pub fn channel_of(token: &str) -> Option<ChannelId> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    header.kid?.parse().ok().map(ChannelId)
}

/// The claims of a token the channel signed that has not expired at `now_secs` (the
/// engine's clock, which issued it; no leeway). Errors: [`TokenError`].
pub fn verify(channel: &ChannelRecord, token: &str, now_secs: i64) -> Result<Claims, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss"]);
    let claims = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(channel.token_key.as_bytes()),
        &validation,
    )
    .map_err(|_| TokenError::Invalid)?
    .claims;
    if claims.exp <= now_secs {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::channel::ChannelKind;

    fn channel(id: i64, key: &str) -> ChannelRecord {
        ChannelRecord {
            id: ChannelId(id),
            kind: ChannelKind::Directline,
            name: "site".into(),
            token_key: key.into(),
            created_at: 0,
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_token_names_its_channel_and_only_its_key_opens_it() {
        let site = channel(7, "k1");
        let claims = Claims::new("dl_ann", Some("Ann"), "conv1", NOW);
        let token = issue(&site, &claims);
        assert_eq!(channel_of(&token), Some(ChannelId(7)));
        assert_eq!(verify(&site, &token, NOW), Ok(claims));
        assert_eq!(
            verify(&channel(7, "other"), &token, NOW),
            Err(TokenError::Invalid)
        );
        assert_eq!(verify(&site, "not.a.token", NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn an_expired_token_says_so() {
        let site = channel(1, "k");
        let token = issue(&site, &Claims::new("dl_ann", None, "c", NOW));
        assert!(verify(&site, &token, NOW + TOKEN_SECS - 1).is_ok());
        assert_eq!(
            verify(&site, &token, NOW + TOKEN_SECS),
            Err(TokenError::Expired)
        );
    }
}
