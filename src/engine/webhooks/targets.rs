//! Which URLs a webhook may be sent to: `http` or `https`, and (unless
//! `webhooks.allow_private_targets`) only public addresses, so that registering an
//! endpoint cannot make chatdesk call into its own network (server-side request forgery).
//! A name is resolved and every address it gives must be public when it is registered;
//! when sending, [`PublicOnly`] resolves names for the HTTP client and hands it only public
//! addresses, so that a name that changes its answer (DNS rebinding) cannot lead it in.

use std::net::IpAddr;

use ipnet::IpNet;
use url::Url;

/// The longest webhook URL, in bytes.
pub const URL_MAX_BYTES: usize = 2048;

/// Ranges that are not the public internet, beyond what `std` names (loopback,
/// private, link-local, unspecified, multicast, broadcast).
const NOT_PUBLIC: &[&str] = &[
    "0.0.0.0/8",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "fc00::/7",
    "fe80::/10",
    "2001:db8::/32",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "2002::/16",
    "::/96",
];

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let special = match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || v6.is_multicast(),
    };
    !special
        && !NOT_PUBLIC
            .iter()
            .any(|net| net.parse::<IpNet>().is_ok_and(|n| n.contains(&ip)))
}

/// Checks a webhook URL: its shape, and with `allow_private` false, that its host is
/// public. Errors: what is wrong, for the caller's message.
pub async fn check(url: &str, allow_private: bool) -> Result<Url, String> {
    if url.len() > URL_MAX_BYTES {
        return Err(format!("must be at most {URL_MAX_BYTES} bytes"));
    }
    let parsed = Url::parse(url).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("must be http or https, not {:?}", parsed.scheme()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| "must name a host".to_owned())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("names a host that does not resolve: {e}"))?
            .map(|a| a.ip())
            .collect(),
    };
    if let Some(private) = addresses.iter().find(|ip| !is_public(**ip)) {
        return Err(format!(
            "points at {private}, a loopback or private address; set \
             webhooks.allow_private_targets to allow those"
        ));
    }
    Ok(parsed)
}

/// Resolves names for the webhook client to public addresses only (see the module
/// header); a name with none is an error, and nothing is sent.
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let public: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves to no public address; set \
                     webhooks.allow_private_targets to allow private ones"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_public_internet_is_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn urls_must_be_http_and_public() {
        assert!(check("ftp://example.com/x", false).await.is_err());
        assert!(check("not a url", false).await.is_err());
        assert!(check("http://127.0.0.1:9/hook", false).await.is_err());
        assert!(check("http://[::1]/hook", false).await.is_err());
        assert!(check("http://user:pw@8.8.8.8/hook", false).await.is_err());
        assert!(check("http://127.0.0.1:9/hook", true).await.is_ok());
        assert!(check("https://8.8.8.8/hook", false).await.is_ok());
    }
}
