//! Extractors that fail with the API's error shape instead of axum's plain-text rejections,
//! and the signed-in user.
//!
//! A browser session rides on a cookie, which the browser also sends with requests another
//! site makes it send. So a cookie alone signs in only safe requests: anything that changes
//! state must also carry the session's CSRF token (header `X-CSRF-Token`, or the `_csrf`
//! field of a page form), and a WebSocket upgrade must come from a page of this origin.

use std::net::IpAddr;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderName;
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, SET_COOKIE, UPGRADE};
use axum::http::request::Parts;
use axum::response::AppendHeaders;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::config::{ProxyRange, Settings};
use crate::domain::user::User;
use crate::engine::{DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE_SECS, SignedIn};
use crate::error::Error;
use crate::store::TokenOwner;

pub const SESSION_COOKIE: &str = "chatdesk_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON body; malformed JSON is a 400, wrong fields a 422, both with the error shape.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// Path parameters; ones that do not parse are unknown resources (404).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// Query strings with the API's error shape.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// The client's address: the peer's, or behind a trusted proxy the one it forwarded
/// (see [`forwarded_client`]). `None` when the server was started without peer addresses
/// (`Application` has them; requests that do not carry one are limited by account only).
pub fn client_ip(parts: &Parts, trusted: &[ProxyRange]) -> Option<IpAddr> {
    let peer = peer_ip(parts)?;
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    Some(forwarded_client(peer, forwarded, trusted))
}

/// The scheme the client used, as a trusted proxy reports it in `X-Forwarded-Proto`
/// (`https` when it terminated TLS): `Some("http")` or `Some("https")` only when the
/// request came straight from a trusted proxy; `None` otherwise, or for any other value.
/// Of a list (`https, http`), the last: the one the proxy nearest us added, which a
/// client cannot choose by sending the header itself.
pub fn forwarded_proto(parts: &Parts, trusted: &[ProxyRange]) -> Option<&'static str> {
    let peer = peer_ip(parts)?.to_canonical();
    if !trusted.iter().any(|range| range.contains(peer)) {
        return None;
    }
    let value = parts.headers.get("x-forwarded-proto")?.to_str().ok()?;
    match value.rsplit(',').next()?.trim() {
        p if p.eq_ignore_ascii_case("https") => Some("https"),
        p if p.eq_ignore_ascii_case("http") => Some("http"),
        _ => None,
    }
}

/// The address the connection came from, when the server was started with them.
fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    let info = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?;
    Some(info.0.ip())
}

/// Who sent a request that reached us from `peer` with these `X-Forwarded-For` header
/// values: walking the forwarded addresses from the right (the hop nearest us), each is
/// believed only while the hop that reported it is a trusted proxy, so a client cannot
/// choose its own address by sending the header itself. The first address that is not a
/// trusted proxy is the client; an entry that is not an address stops the walk at the hop
/// that reported it. See MDN, "X-Forwarded-For: Selecting an IP address".
pub fn forwarded_client<'a>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[ProxyRange],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|range| range.contains(ip));
    let mut client = peer.to_canonical();
    let hops = forwarded.rev().flat_map(|value| value.rsplit(','));
    for hop in hops {
        if !is_trusted(client) {
            break;
        }
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => client = ip.to_canonical(),
            Err(_) => break,
        }
    }
    client
}

/// How a request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer`: scripts and API clients; a browser never adds it by itself.
    Bearer(String),
    /// The session cookie: browsers, which also send it on other sites' behalf.
    Cookie(String),
}

impl Credential {
    pub fn token(&self) -> &str {
        match self {
            Self::Bearer(t) | Self::Cookie(t) => t,
        }
    }

    pub fn into_token(self) -> String {
        match self {
            Self::Bearer(t) | Self::Cookie(t) => t,
        }
    }
}

/// The credential a request carries: a bearer header, else the session cookie.
pub fn credential(parts: &Parts) -> Option<Credential> {
    if let Some(value) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return value
            .strip_prefix("Bearer ")
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .map(Credential::Bearer);
    }
    session_cookie(parts).map(Credential::Cookie)
}

fn session_cookie(parts: &Parts) -> Option<String> {
    cookie(parts, SESSION_COOKIE)
}

/// The value of the cookie `name` the request carries, if it is not empty.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// The two `Set-Cookie` headers of a sign-in, by the API or the sign-in page: the session
/// (HttpOnly, for `chat.session_hours`) and the browser's device cookie.
pub fn signed_in_cookies(
    settings: &Settings,
    signed_in: &SignedIn,
) -> AppendHeaders<[(HeaderName, String); 2]> {
    let max_age = u64::from(settings.chat.session_hours) * 3600;
    let session = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}",
        signed_in.token.0
    );
    AppendHeaders([
        (SET_COOKIE, session),
        (SET_COOKIE, device_cookie_header(&signed_in.device_cookie)),
    ])
}

/// The `Set-Cookie` value that keeps a browser's device cookie (see
/// [`DEVICE_COOKIE`]): HttpOnly, sent to this site only, for a year.
pub fn device_cookie_header(value: &str) -> String {
    format!(
        "{DEVICE_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={DEVICE_COOKIE_MAX_AGE_SECS}"
    )
}

/// The token a request carries, however it carries it.
pub fn request_token(parts: &Parts) -> Option<String> {
    credential(parts).map(Credential::into_token)
}

/// The CSRF token of a session: derived from the session token, so nothing more is stored,
/// and useless to anyone who cannot read this origin's pages.
pub fn csrf_token(session: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"chatdesk csrf\0")
        .chain_update(session.as_bytes())
        .finalize();
    hex::encode(&digest[..16])
}

/// Compares in constant time, so timing does not tell how much of a guess was right.
pub fn same_secret(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether `Origin` names the host the request was sent to (the `Host` header, or the
/// URI's authority where HTTP/2 carries it). Requests without an `Origin` (non-browser
/// clients) pass: browsers send one on every WebSocket upgrade and cross-site POST.
pub fn same_origin(parts: &Parts) -> bool {
    let Some(origin) = parts.headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = parts
        .headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// Refuses a cookie-signed request that another site could have made the browser send.
fn check_cookie_request(parts: &Parts, session: &str) -> Result<(), Error> {
    let is_upgrade = parts.headers.contains_key(UPGRADE);
    if is_upgrade {
        if !same_origin(parts) {
            return Err(Error::forbidden(
                "this WebSocket must be opened from a chatdesk page",
            ));
        }
        return Ok(());
    }
    if parts.method.is_safe() {
        return Ok(());
    }
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if same_secret(sent, &csrf_token(session)) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "a signed-in browser request needs the page's X-CSRF-Token header",
        ))
    }
}

/// The signed-in user; 401 when the request carries no valid token, 403 when a cookie
/// session's request lacks its CSRF token or comes from another origin.
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated { owner, .. } = Authenticated::from_request_parts(parts, state).await?;
        Ok(Self(owner.user))
    }
}

/// The signed-in user with the token they signed in with and its expiry: what a socket
/// needs to watch its right to stay open. Rejects as [`CurrentUser`] does.
pub struct Authenticated {
    pub owner: TokenOwner,
    pub token: String,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credential = credential(parts).ok_or(Error::Unauthorized)?;
        let owner = state
            .accounts
            .authenticate_session(credential.token())
            .await?;
        if let Credential::Cookie(session) = &credential {
            check_cookie_request(parts, session)?;
        }
        Ok(Self {
            owner,
            token: credential.into_token(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ranges(list: &[&str]) -> Vec<ProxyRange> {
        list.iter().map(|r| r.parse().unwrap()).collect()
    }

    #[test]
    fn the_header_is_believed_only_from_trusted_proxies() {
        let trusted = ranges(&["127.0.0.1", "10.0.0.0/8"]);
        let from = |peer: &str, headers: &[&str]| {
            forwarded_client(ip(peer), headers.iter().copied(), &trusted)
        };
        assert_eq!(
            from("203.0.113.9", &["1.2.3.4"]),
            ip("203.0.113.9"),
            "a client's own header"
        );
        assert_eq!(from("127.0.0.1", &[]), ip("127.0.0.1"), "the proxy itself");
        assert_eq!(from("127.0.0.1", &["198.51.100.7"]), ip("198.51.100.7"));
        assert_eq!(
            from("127.0.0.1", &["6.6.6.6, 198.51.100.7, 10.1.2.3"]),
            ip("198.51.100.7"),
            "past the trusted hops, and no further: 6.6.6.6 is what the client claimed"
        );
        assert_eq!(
            from("127.0.0.1", &["6.6.6.6", "198.51.100.7,10.1.2.3"]),
            ip("198.51.100.7"),
            "several header lines read as one list"
        );
        assert_eq!(from("127.0.0.1", &["10.1.2.3, nonsense"]), ip("127.0.0.1"));
        assert_eq!(
            from("::ffff:127.0.0.1", &["2001:db8::1"]),
            ip("2001:db8::1"),
            "an IPv4 proxy seen through an IPv6 socket"
        );
        assert_eq!(
            forwarded_client(ip("127.0.0.1"), ["198.51.100.7"].into_iter(), &[]),
            ip("127.0.0.1"),
            "nothing trusted by default"
        );
    }

    #[test]
    fn proxy_ranges_are_addresses_or_cidr() {
        assert!(
            " 10.0.0.0/8"
                .parse::<ProxyRange>()
                .unwrap()
                .contains(ip("10.9.9.9"))
        );
        assert!(
            "fd00::1"
                .parse::<ProxyRange>()
                .unwrap()
                .contains(ip("fd00::1"))
        );
        assert!("10.0.0.0/33".parse::<ProxyRange>().is_err());
        assert!("proxy.local".parse::<ProxyRange>().is_err());
    }
}
