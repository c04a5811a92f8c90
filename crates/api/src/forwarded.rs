//! Who the client is, for login throttling: the TCP peer, or, when the peer is a proxy the
//! operator named in `HEALTHCARE_TRUSTED_PROXIES`, the address that proxy reports in
//! `X-Forwarded-For`.
//!
//! Each proxy appends the address it received the request from, so the header is read from
//! the right: hops written by trusted proxies are skipped, and the first hop that is not a
//! trusted proxy is the client. Whatever a client writes into the header itself sits to the
//! left of that hop and is never believed. A peer that is not trusted is the client, whatever
//! its header says.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address range: an address and how many leading bits of it must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(net.to_bits().into(), ip.to_bits().into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(net.to_bits(), ip.to_bits(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `prefix` of the `width` low bits of `a` and `b` are equal.
fn same_prefix(a: u128, b: u128, width: u8, prefix: u8) -> bool {
    let ignored = u32::from(width - prefix);
    a.checked_shr(ignored).unwrap_or(0) == b.checked_shr(ignored).unwrap_or(0)
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or network"))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0-{width}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

/// The proxies whose `X-Forwarded-For` is believed (addresses or networks). Empty, the
/// default: none, and the TCP peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list, e.g. `10.0.0.0/8, 192.0.2.7, ::1`; empty for none.
    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(Network::from_str)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client's address, given the TCP peer and the `X-Forwarded-For` header values (raw
    /// bytes) in the order they arrived. A hop that is not an address ends the walk: the last
    /// trusted address before it stands for the client. Bytes that are not text, left of the
    /// hops a proxy appended, do not hide those hops.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a [u8]>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&[u8]> = forwarded_for
            .flat_map(|value| value.split(|byte| *byte == b','))
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = std::str::from_utf8(hop)
                .ok()
                .and_then(|h| parse_hop(h.trim()))
            else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The client's address (for throttling and the audit trail): the TCP peer, or what a trusted
/// proxy forwarded.
pub fn client_address(req: &actix_web::HttpRequest, proxies: &TrustedProxies) -> String {
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|value| value.as_bytes());
    req.peer_addr()
        .map(|peer| proxies.client(peer.ip(), forwarded).to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(trusted: &str, peer: &str, header: &[&str]) -> IpAddr {
        trusted
            .parse::<TrustedProxies>()
            .unwrap()
            .client(ip(peer), header.iter().map(|h| h.as_bytes()))
    }

    #[test]
    fn lists_parse_and_bad_entries_are_refused() {
        assert_eq!(
            "".parse::<TrustedProxies>().unwrap(),
            TrustedProxies::default()
        );
        let list: TrustedProxies = " 10.0.0.0/8, 192.0.2.7 ,::1,2001:db8::/32".parse().unwrap();
        assert_eq!(list.0.len(), 4);
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "proxy.local",
            "10.0.0",
            "1.2.3.4/",
        ] {
            let err = bad.parse::<TrustedProxies>().unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn networks_match_by_prefix() {
        let list: TrustedProxies = "10.1.0.0/16, 192.0.2.7, 2001:db8::/32, 0.0.0.0/0"
            .parse()
            .unwrap();
        assert!(list.0[0].contains(ip("10.1.255.3")));
        assert!(!list.0[0].contains(ip("10.2.0.1")));
        assert!(list.0[1].contains(ip("192.0.2.7")));
        assert!(!list.0[1].contains(ip("192.0.2.8")));
        assert!(list.0[2].contains(ip("2001:db8:ffff::1")));
        assert!(!list.0[2].contains(ip("2001:db9::1")));
        assert!(!list.0[2].contains(ip("10.1.0.1")), "no family mixing");
        assert!(
            list.0[3].contains(ip("203.0.113.9")),
            "/0 holds every IPv4 address"
        );
        // An IPv4 peer seen through an IPv6 socket is matched as IPv4.
        assert!(list.contains(ip("::ffff:10.1.0.9")));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client("", "198.51.100.4", &["203.0.113.1"]),
            ip("198.51.100.4")
        );
        assert_eq!(
            client("10.0.0.0/8", "198.51.100.4", &["203.0.113.1"]),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["203.0.113.1"]),
            ip("203.0.113.1")
        );
        // Without a header the proxy itself is all there is.
        assert_eq!(client("10.0.0.1", "10.0.0.1", &[]), ip("10.0.0.1"));
        // Ports and IPv6 brackets are allowed.
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["203.0.113.1:4711"]),
            ip("203.0.113.1")
        );
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["[2001:db8::5]:80"]),
            ip("2001:db8::5")
        );
    }

    #[test]
    fn what_the_client_wrote_itself_is_not_believed() {
        // The client sent "X-Forwarded-For: 192.0.2.99"; the proxy appended the real address.
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["192.0.2.99, 203.0.113.1"]),
            ip("203.0.113.1")
        );
        // Two header lines count as one list, in order.
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["192.0.2.99", "203.0.113.1"]),
            ip("203.0.113.1")
        );
    }

    #[test]
    fn chains_of_trusted_proxies_are_skipped() {
        assert_eq!(
            client(
                "10.0.0.0/8",
                "10.0.0.1",
                &["192.0.2.99, 203.0.113.1, 10.9.9.9"]
            ),
            ip("203.0.113.1")
        );
        // Every hop trusted: the leftmost one.
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.1", &["10.2.2.2, 10.9.9.9"]),
            ip("10.2.2.2")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client(
                "10.0.0.0/8",
                "10.0.0.1",
                &["203.0.113.1, unknown, 10.9.9.9"]
            ),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn bytes_that_are_not_text_do_not_hide_the_appended_hop() {
        let proxies: TrustedProxies = "10.0.0.1".parse().unwrap();
        let header: &[u8] = b"\xff\xfe garbage, 203.0.113.1";
        assert_eq!(
            proxies.client(ip("10.0.0.1"), [header].into_iter()),
            ip("203.0.113.1")
        );
        let header: &[u8] = b"203.0.113.1, \xff";
        assert_eq!(
            proxies.client(ip("10.0.0.1"), [header].into_iter()),
            ip("10.0.0.1"),
            "a garbage hop on the proxy's side stops at the proxy"
        );
    }
}
