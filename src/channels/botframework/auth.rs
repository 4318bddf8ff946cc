//! Checking that a request to `/api/messages` comes from the Bot Framework, as
//! Microsoft's SDKs do it (botbuilder's `JwtTokenValidation` and `ChannelValidation`,
//! <https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication>):
//! a bearer JWT signed RS256 with a key published through the OpenID metadata (and, when
//! the key names endorsements, endorsed for the activity's channel), issued by
//! `https://api.botframework.com` for this bot's app id, in date with 5 minutes of skew,
//! and naming in its `serviceurl` claim the `serviceUrl` the activity says replies go to.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::RwLock;

use crate::error::{Error, Result};

/// The issuer of the Bot Framework's tokens.
pub const ISSUER: &str = "https://api.botframework.com";
/// The clock skew allowed on `exp` and `nbf`, as the SDKs allow it.
pub const SKEW: Duration = Duration::from_secs(5 * 60);
/// How long fetched keys are used before they are fetched again (the SDKs: a day).
const KEYS_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// A token naming a key not in hand fetches the keys again, at most this often.
const REFETCH_AT_MOST: Duration = Duration::from_secs(60);
/// How long fetching the metadata or keys may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The claims chatdesk reads from a Bot Framework token.
#[derive(Debug, Deserialize)]
pub struct BotClaims {
    /// Where replies to the activity go; must equal the activity's `serviceUrl`.
    #[serde(default)]
    pub serviceurl: Option<String>,
}

/// A signing key and the channels it is endorsed for (empty: any).
struct Key {
    key: DecodingKey,
    endorsements: Vec<String>,
}

struct Keys {
    by_id: HashMap<String, Key>,
    fetched: Instant,
    /// The last try to fetch them, which may have failed.
    tried: Instant,
}

/// Verifies Bot Framework tokens against keys fetched from the OpenID metadata and
/// kept for [`KEYS_LIFETIME`].
pub struct Verifier {
    app_id: String,
    metadata_url: String,
    http: reqwest::Client,
    keys: RwLock<Option<Keys>>,
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<Value>,
}

impl Verifier {
    /// A verifier for tokens addressed to `app_id`, with keys from `metadata_url`.
    pub fn new(app_id: &str, metadata_url: &str, http: reqwest::Client) -> Self {
        Self {
            app_id: app_id.to_owned(),
            metadata_url: metadata_url.to_owned(),
            http,
            keys: RwLock::new(None),
        }
    }

    /// The claims of `token`, a bearer token sent with an activity from `channel_id`
    /// whose replies go to `service_url`.
    ///
    /// # Errors
    /// `BadCredentials` (401) naming what is wrong: not a JWT, not RS256, an unknown key,
    /// a bad signature, the wrong issuer or audience, out of date, a key not endorsed for
    /// the channel, or a `serviceurl` claim that differs. `Unavailable` when the keys
    /// cannot be fetched (the channel retries).
    pub async fn verify(
        &self,
        token: &str,
        channel_id: &str,
        service_url: &str,
    ) -> Result<BotClaims> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Error::BadCredentials("the bearer token is not a JWT".into()))?;
        if header.alg != Algorithm::RS256 {
            return Err(Error::BadCredentials(
                "the bearer token must be signed RS256".into(),
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| Error::BadCredentials("the bearer token names no key".into()))?;
        let claims = self
            .with_key(&kid, |key| {
                // As the SDKs' EndorsementsValidator: an activity naming no channel makes
                // no claim to check.
                if !channel_id.is_empty()
                    && !key.endorsements.is_empty()
                    && !key.endorsements.iter().any(|e| e == channel_id)
                {
                    return Err(Error::BadCredentials(
                        format!("the signing key is not endorsed for channel {channel_id:?}")
                            .into(),
                    ));
                }
                let mut validation = Validation::new(Algorithm::RS256);
                validation.leeway = SKEW.as_secs();
                validation.validate_nbf = true;
                validation.set_issuer(&[ISSUER]);
                validation.set_audience(&[&self.app_id]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                jsonwebtoken::decode::<BotClaims>(token, &key.key, &validation)
                    .map(|data| data.claims)
                    .map_err(|e| Error::BadCredentials(rejection(&e).into()))
            })
            .await?;
        if claims.serviceurl.as_deref() != Some(service_url) {
            return Err(Error::BadCredentials(
                "the token's serviceurl claim does not match the activity's serviceUrl".into(),
            ));
        }
        Ok(claims)
    }

    /// Runs `check` with the key `kid`, fetching the keys when they are old or lack it.
    async fn with_key<T>(&self, kid: &str, check: impl Fn(&Key) -> Result<T>) -> Result<T> {
        {
            let keys = self.keys.read().await;
            if let Some(keys) = keys.as_ref()
                && keys.fetched.elapsed() < KEYS_LIFETIME
                && let Some(key) = keys.by_id.get(kid)
            {
                return check(key);
            }
        }
        let mut keys = self.keys.write().await;
        // Old keys, or a key not in hand, fetch them again, but at most every
        // REFETCH_AT_MOST however the last try went.
        let stale = keys.as_ref().is_none_or(|k| {
            (k.fetched.elapsed() >= KEYS_LIFETIME || !k.by_id.contains_key(kid))
                && k.tried.elapsed() >= REFETCH_AT_MOST
        });
        if stale {
            match self.fetch().await {
                Ok(fresh) => *keys = Some(fresh),
                // Keys in hand still serve while the metadata is out of reach.
                Err(e) if keys.is_some() => {
                    tracing::warn!(error = %e.chain(), "could not refresh the Bot Framework keys");
                    if let Some(k) = keys.as_mut() {
                        k.tried = Instant::now();
                    }
                }
                Err(e) => return Err(e),
            }
        }
        match keys.as_ref().and_then(|k| k.by_id.get(kid)) {
            Some(key) => check(key),
            None => Err(Error::BadCredentials(
                "the bearer token's key is not one the Bot Framework publishes".into(),
            )),
        }
    }

    async fn fetch(&self) -> Result<Keys> {
        let metadata: Metadata = self.fetch_json(&self.metadata_url).await?;
        let set: KeySet = self.fetch_json(&metadata.jwks_uri).await?;
        let mut by_id = HashMap::new();
        for raw in set.keys {
            let endorsements = raw
                .get("endorsements")
                .and_then(Value::as_array)
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
                continue;
            };
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(&jwk))
            else {
                continue;
            };
            by_id.insert(kid, Key { key, endorsements });
        }
        tracing::info!(keys = by_id.len(), "Bot Framework signing keys fetched");
        Ok(Keys {
            by_id,
            fetched: Instant::now(),
            tried: Instant::now(),
        })
    }

    /// `GET url` as JSON. Errors: `Unavailable` when it cannot be had.
    async fn fetch_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T> {
        let unavailable = |e: reqwest::Error| Error::Unavailable(Box::new(e));
        self.http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }
}

/// What is wrong with a token, in words for the 401.
fn rejection(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the bearer token has expired",
        ErrorKind::ImmatureSignature => "the bearer token is not valid yet",
        ErrorKind::InvalidIssuer => "the bearer token was not issued by the Bot Framework",
        ErrorKind::InvalidAudience => "the bearer token is not for this bot's app id",
        ErrorKind::InvalidSignature => "the bearer token's signature does not verify",
        ErrorKind::MissingRequiredClaim(_) => "the bearer token lacks exp, iss or aud",
        _ => "the bearer token is not valid",
    }
}
