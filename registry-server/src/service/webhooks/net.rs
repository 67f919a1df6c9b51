//! Where a webhook may be delivered. Loopback, private, shared, unspecified and other non-public
//! addresses are refused unless the server runs with `--webhooks-allow-private`; link-local ones
//! (169.254/16, fe80::/10: cloud metadata services live there) always. Checked when a subscription is
//! added and again at every connection, after DNS resolution (a name that resolves to a refused
//! address anywhere in its answer is refused: DNS rebinding gains nothing).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why an address is refused, or `None` when it may be used.
pub fn refused(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => v4(a, allow_private),
        IpAddr::V6(a) => match embedded_v4(a) {
            // An IPv6 form that carries an IPv4 address (mapped, compatible, SIIT, NAT64, 6to4,
            // Teredo) reaches that address: it is judged as that address, and the translating
            // forms are non-public themselves.
            Some((inner, translated)) => v4(inner, allow_private).or_else(|| {
                (translated && !allow_private).then_some(
                    "an IPv6 form translating to IPv4 (NAT64, 6to4, Teredo; --webhooks-allow-private)",
                )
            }),
            None => v6(a, allow_private),
        },
    }
}

/// Metadata services outside the link-local ranges: always refused, like link-local.
const METADATA_V4: [Ipv4Addr; 2] = [
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure WireServer
];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)]; // AWS IMDS

fn v4(a: Ipv4Addr, allow_private: bool) -> Option<&'static str> {
    let o = a.octets();
    if a.is_link_local() {
        return Some("link-local (169.254.0.0/16)");
    }
    if METADATA_V4.contains(&a) {
        return Some("a cloud metadata service");
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

/// The IPv4 address an IPv6 one carries, and whether it goes through a translator (NAT64, 6to4,
/// Teredo) rather than naming the IPv4 host directly (mapped, compatible, SIIT).
fn embedded_v4(a: Ipv6Addr) -> Option<(Ipv4Addr, bool)> {
    let s = a.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0xffff, h, l] => Some((low(h, l), false)), // ::ffff:0:0/96, mapped
        [0, 0, 0, 0, 0xffff, 0, h, l] => Some((low(h, l), false)), // ::ffff:0:0:0/96, SIIT
        // ::/96, compatible (deprecated); `::` and `::1` are themselves, not IPv4.
        [0, 0, 0, 0, 0, 0, h, l] if h != 0 => Some((low(h, l), false)),
        [0x64, 0xff9b, 0, 0, 0, 0, h, l] => Some((low(h, l), true)), // 64:ff9b::/96, NAT64
        [0x64, 0xff9b, 1, ..] => Some((low(s[6], s[7]), true)),      // 64:ff9b:1::/48, local NAT64
        [0x2002, h, l, ..] => Some((low(h, l), true)),               // 2002::/16, 6to4
        [0x2001, 0, ..] => Some((low(!s[6], !s[7]), true)),          // 2001::/32, Teredo (client, inverted)
        _ => None,
    }
}

fn v6(a: Ipv6Addr, allow_private: bool) -> Option<&'static str> {
    let s = a.segments();
    if (s[0] & 0xffc0) == 0xfe80 {
        return Some("link-local (fe80::/10)");
    }
    if METADATA_V6.contains(&a) {
        return Some("a cloud metadata service");
    }
    let private = a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || s[0] < 0x0100 // ::/8, reserved (loopback, unspecified, old embeddings)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // 100::/64, discard-only
        || (s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23, protocol assignments
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x3fff && s[1] < 0x1000); // 3fff::/20, documentation
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
            // IPv4 inside IPv6: judged as the IPv4 address (link-local never; translators private).
            ("::169.254.169.254", false),
            ("::ffff:0:169.254.169.254", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9b:1::a9fe:a9fe", false),
            ("2002:a9fe:a9fe::1", false),
            ("2001:0:4136:e378:8000:63bf:5601:5601", false), // Teredo, client 169.254.169.254 inverted
            ("::127.0.0.1", true),
            ("64:ff9b::7f00:1", true),
            ("64:ff9b::5db8:d822", true), // NAT64 of a public address: through a translator
            ("2002:5db8:d822::1", true),
            ("100::1", true),
            ("2001:2::1", true),
            // Metadata services outside link-local: never.
            ("100.100.100.200", false),
            ("168.63.129.16", false),
            ("fd00:ec2::254", false),
            ("::ffff:100.100.100.200", false),
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
