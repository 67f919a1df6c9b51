//! Where a webhook may be delivered. Loopback, private, shared, unspecified and other non-public
//! addresses are refused unless the server runs with `--webhooks-allow-private`; link-local ones
//! (169.254/16, fe80::/10: cloud metadata services live there) always. Checked when a subscription is
//! added and again at every connection, after DNS resolution (a name that resolves to a refused
//! address anywhere in its answer is refused: DNS rebinding gains nothing).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why an address is refused, or `None` when it may be used.
pub fn refused(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(a) => v4(a, allow_private),
        IpAddr::V6(a) => v6(a, allow_private),
    }
}

fn v4(a: Ipv4Addr, allow_private: bool) -> Option<&'static str> {
    let o = a.octets();
    if a.is_link_local() {
        return Some("link-local (169.254.0.0/16)");
    }
    let private = a.is_loopback()
        || a.is_private()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10, shared address space
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24, protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15, benchmarking
        || o[0] >= 240; // reserved
    (private && !allow_private).then_some("loopback, private or reserved (--webhooks-allow-private)")
}

fn v6(a: Ipv6Addr, allow_private: bool) -> Option<&'static str> {
    let s = a.segments();
    if (s[0] & 0xffc0) == 0xfe80 {
        return Some("link-local (fe80::/10)");
    }
    let private = a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 (embeds any IPv4)
        || s[0] == 0x2002; // 6to4 (embeds any IPv4)
    (private && !allow_private).then_some("loopback, private or reserved (--webhooks-allow-private)")
}

/// Checks a URL's scheme and host (literal addresses here; names resolve in [`Guard`]).
pub fn check_url(url: &url::Url, allow_private: bool) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the URL must be http or https".into());
    }
    match url.host() {
        None => Err("the URL has no host".into()),
        Some(url::Host::Ipv4(a)) => refused(IpAddr::V4(a), allow_private).map_or(Ok(()), |r| Err(r.into())),
        Some(url::Host::Ipv6(a)) => refused(IpAddr::V6(a), allow_private).map_or(Ok(()), |r| Err(r.into())),
        Some(url::Host::Domain(_)) => Ok(()),
    }
}

/// Resolves `host` and checks every address it gives.
pub async fn resolve_checked(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolving the host failed: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err("the host resolves to no address".into());
    }
    if let Some(r) = addrs.iter().find_map(|a| refused(a.ip(), allow_private)) {
        return Err(format!("the host resolves to a refused address: {r}"));
    }
    Ok(addrs)
}

/// The DNS resolver of the delivery client: [`resolve_checked`] at every new connection.
#[derive(Debug, Clone)]
pub struct Guard {
    /// `--webhooks-allow-private`.
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_checked(&host, 0, allow)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The delivery client: redirects refused, bounded time, every resolved address checked, no proxy
/// from the environment (it would connect on our behalf to anything).
pub fn client(allow_private: bool, timeout: std::time::Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .dns_resolver(Arc::new(Guard { allow_private }))
        .user_agent(concat!("registry-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn private_and_link_local_addresses_are_refused() {
        for (ip, allowed_with_flag) in [
            ("127.0.0.1", true),
            ("10.1.2.3", true),
            ("192.168.0.1", true),
            ("172.16.0.1", true),
            ("100.64.0.1", true),
            ("0.0.0.0", true),
            ("::1", true),
            ("fd00::1", true),
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.0.0.1", true),
            ("169.254.169.254", false),
            ("::ffff:169.254.169.254", false),
            ("fe80::1", false),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(refused(ip, false).is_some(), "{ip}");
            assert_eq!(refused(ip, true).is_none(), allowed_with_flag, "{ip} with the flag");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "1.1.1.1"] {
            assert!(refused(ip.parse().unwrap(), false).is_none(), "{ip}");
        }
    }

    #[test]
    fn urls_need_http_and_an_allowed_literal_host() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(check_url(&u("https://siem.example.com/hook"), false).is_ok());
        assert!(check_url(&u("http://127.0.0.1:9000/"), false).is_err());
        assert!(check_url(&u("http://127.0.0.1:9000/"), true).is_ok());
        assert!(check_url(&u("http://[fe80::1]/"), true).is_err());
        assert!(check_url(&u("http://169.254.169.254/latest/meta-data"), true).is_err());
        assert!(check_url(&u("file:///etc/passwd"), true).is_err());
        assert!(check_url(&u("ftp://example.com/"), true).is_err());
    }
}
