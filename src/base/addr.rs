//! Client addresses (contract section 7): who a request comes from.
//!
//! The client address is the TCP peer, or, for a request whose peer is a
//! trusted proxy (`--trusted-proxies`), the last entry of its
//! `X-Forwarded-For` (the one that proxy appended; entries before it are
//! whatever the client claimed). Everything that limits or counts per
//! client (registrations, the connection cap, auto-ban distinctness) keys
//! on [`ClientAddr`], in which an IPv6 address counts as its /64: one host
//! is routinely given a whole /64, so a finer key is a fresh bucket per
//! address for free. An IPv4-mapped IPv6 peer counts as its IPv4 address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address or network (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (canonical: an IPv4-mapped one as IPv4).
    net: IpAddr,
    /// Leading bits that must match; 32 or 128 for a single address.
    bits: u8,
}

impl Cidr {
    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                prefix_eq(u32::from(n) as u128, u32::from(a) as u128, self.bits, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(u128::from(n), u128::from(a), self.bits, 128),
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, bits: u8, width: u8) -> bool {
    if bits == 0 {
        return true;
    }
    let shift = width - bits.min(width);
    (a >> shift) == (b >> shift)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| format!("not an address or CIDR: {s:?}"))?;
        let net = canonical(net);
        let width = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => width,
            Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => match b.parse::<u8>() {
                Ok(n) if n <= width => n,
                _ => return Err(format!("prefix length out of range in {s:?}")),
            },
            Some(_) => return Err(format!("bad prefix length in {s:?}")),
        };
        Ok(Cidr { net, bits })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key everything per-client is counted under: an IPv4 address, or
/// the /64 an IPv6 address belongs to (its low 64 bits zeroed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientAddr(IpAddr);

impl ClientAddr {
    pub fn of(ip: IpAddr) -> ClientAddr {
        match canonical(ip) {
            IpAddr::V6(v6) => ClientAddr(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1)))),
            v4 => ClientAddr(v4),
        }
    }

    pub fn ip(&self) -> IpAddr {
        self.0
    }
}

impl Default for ClientAddr {
    fn default() -> Self {
        ClientAddr(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V6(_) => write!(f, "{}/64", self.0),
            IpAddr::V4(_) => write!(f, "{}", self.0),
        }
    }
}

/// Which peers' `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn new(list: Vec<Cidr>) -> TrustedProxies {
        TrustedProxies(list)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(peer))
    }

    /// The client address of a request from `peer` carrying
    /// `forwarded` (the `X-Forwarded-For` values in header order).
    /// From an untrusted peer the header is ignored; from a trusted one
    /// the last entry is taken. A trusted peer that sent no usable entry
    /// is itself the client (a health check from the proxy, say).
    pub fn client(&self, peer: IpAddr, forwarded: Option<&str>) -> ClientAddr {
        if !self.trusts(peer) {
            return ClientAddr::of(peer);
        }
        let last = forwarded.and_then(|v| v.rsplit(',').next()).map(str::trim);
        match last.and_then(parse_forwarded_entry) {
            Some(ip) => ClientAddr::of(ip),
            None => ClientAddr::of(peer),
        }
    }
}

/// One `X-Forwarded-For` entry: an address, possibly `[v6]:port` or
/// `v4:port` as some proxies write it.
fn parse_forwarded_entry(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').and_then(|(a, _)| a.parse().ok());
    }
    s.rsplit_once(':')
        .and_then(|(a, port)| port.bytes().all(|b| b.is_ascii_digit()).then_some(a)?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parses_and_matches() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.200.1.2")) && !c.contains(ip("11.0.0.1")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(one.contains(ip("::ffff:127.0.0.1")), "IPv4-mapped peers match their IPv4 rule");
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fdab::1")) && !v6.contains(ip("fe80::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")) && !all.contains(ip("::1")));
        for bad in ["", "10.0.0.0/33", "10.0.0.0/+8", "::/129", "host", "10.0.0.0/"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn ipv6_counts_as_its_slash_64() {
        let a = ClientAddr::of(ip("2001:db8:1:2::1"));
        assert_eq!(a, ClientAddr::of(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(a, ClientAddr::of(ip("2001:db8:1:3::1")));
        assert_eq!(ClientAddr::of(ip("::ffff:10.1.2.3")), ClientAddr::of(ip("10.1.2.3")));
        assert_ne!(ClientAddr::of(ip("10.1.2.3")), ClientAddr::of(ip("10.1.2.4")));
    }

    #[test]
    fn forwarded_for_only_from_a_trusted_peer_and_only_its_last_entry() {
        let t = TrustedProxies::new(vec!["127.0.0.1".parse().unwrap()]);
        let spoof = Some("6.6.6.6, 1.2.3.4");
        assert_eq!(t.client(ip("127.0.0.1"), spoof), ClientAddr::of(ip("1.2.3.4")));
        assert_eq!(t.client(ip("127.0.0.2"), spoof), ClientAddr::of(ip("127.0.0.2")));
        assert_eq!(t.client(ip("127.0.0.1"), None), ClientAddr::of(ip("127.0.0.1")));
        assert_eq!(t.client(ip("127.0.0.1"), Some("garbage")), ClientAddr::of(ip("127.0.0.1")));
        assert_eq!(t.client(ip("127.0.0.1"), Some("[2001:db8::7]:443")), ClientAddr::of(ip("2001:db8::")));
        assert_eq!(t.client(ip("127.0.0.1"), Some("5.6.7.8:1234")), ClientAddr::of(ip("5.6.7.8")));
    }
}
