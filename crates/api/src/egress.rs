//! Which addresses the server may send webhooks to (docs/security.md "Outgoing requests"):
//! loopback, private, link-local, shared (CGNAT), unspecified, broadcast, multicast and
//! documentation addresses are refused unless `HEALTHCARE_WEBHOOK_ALLOW_PRIVATE=true`. The
//! check runs when a subscription's URL is set ([`check_url`]) and again on the addresses a
//! delivery actually connects to ([`PublicOnly`], the delivery client's resolver), so a name
//! that resolves elsewhere later (DNS rebinding) is still refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Whether `ip` is an ordinary public address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || first == 0x2001 && s[1] == 0x0db8
        // Teredo (its server and client are obfuscated IPv4 addresses) and local-use NAT64.
        || first == 0x2001 && s[1] == 0
        || (first, s[1], s[2]) == (0x64, 0xff9b, 1)
        || ip.to_ipv4().is_some_and(|v4| !is_public_v4(v4))
        || embedded_v4(ip).is_some_and(|v4| !is_public_v4(v4)))
}

/// The IPv4 address an IPv6 address carries to reach it: NAT64's well-known prefix
/// `64:ff9b::/96` (the last 32 bits) and 6to4's `2002::/16` (the 32 bits after the prefix).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let pair = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(pair(hi, lo)),
        [0x2002, hi, lo, ..] => Some(pair(hi, lo)),
        _ => None,
    }
}

/// Why a webhook URL is refused, as the 400's message says it.
pub fn check_url(raw: &str, allow_private: bool) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|_| "Enter a valid http or https URL.".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("Enter a valid http or https URL.".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The URL may not carry credentials.".to_owned());
    }
    let Some(host) = url.host_str() else {
        return Err("Enter a valid http or https URL.".to_owned());
    };
    if allow_private {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| format!("The host {host} cannot be resolved."))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("The host {host} cannot be resolved."));
    }
    match addresses.iter().find(|a| !is_public(a.ip())) {
        Some(a) => Err(format!(
            "The URL resolves to {}, a loopback, private or link-local address.",
            a.ip()
        )),
        None => Ok(()),
    }
}

/// The delivery client's resolver: the system's answer with every non-public address removed
/// (unless private targets are allowed); none left is "host not found".
#[derive(Debug, Default)]
pub struct PublicOnly {
    /// Let every address through (`HEALTHCARE_WEBHOOK_ALLOW_PRIVATE`).
    pub allow_private: bool,
    inner: DefaultResolver,
}

impl PublicOnly {
    /// A resolver that refuses non-public addresses unless `allow_private`.
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            inner: DefaultResolver::default(),
        }
    }
}

impl Resolver for PublicOnly {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let all = self.inner.resolve(uri, config, timeout)?;
        if self.allow_private {
            return Ok(all);
        }
        let mut kept = self.empty();
        for addr in all.iter().filter(|a| is_public(a.ip())) {
            kept.push(*addr);
        }
        if kept.is_empty() {
            return Err(ureq::Error::Io(std::io::Error::other(
                "the host resolves only to loopback, private or link-local addresses",
            )));
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            // NAT64 and 6to4 forms of loopback and private addresses, Teredo, local NAT64,
            // site-local.
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::1",
            "fec0::1",
        ] {
            let ip: IpAddr = private.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert!(!is_public(ip), "{private}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let ip: IpAddr = public.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert!(is_public(ip), "{public}");
        }
    }

    #[test]
    fn urls_naming_private_targets_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "https://[::1]/x",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.5/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        assert!(check_url("ftp://example.org/", true).is_err());
        assert!(check_url("http://user:pw@example.org/", true).is_err());
    }
}
