//! The loopback-only rule: `--target` must be an IP:port literal in
//! 127.0.0.0/8 or `[::1]`. Hostnames are refused (no resolver is consulted),
//! and so is every other address, so the harness can never load a host
//! other than this machine.

use std::net::{IpAddr, SocketAddr};

/// Parses and checks a target; the error text is shown by clap (exit 2).
pub fn parse_target(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s.trim().parse().map_err(|_| {
        format!(
            "'{s}' is not an IP:port literal (hostnames are refused); \
             use e.g. 127.0.0.1:8080 or [::1]:8080"
        )
    })?;
    if is_loopback(addr.ip()) {
        Ok(addr)
    } else {
        Err(format!("refusing target {addr}: only loopback addresses (127.0.0.0/8, ::1) may be loaded"))
    }
}

/// True for 127.0.0.0/8, `::1` and the IPv4-mapped form of 127.0.0.0/8.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets()[0] == 127,
            None => v6.is_loopback(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::parse_target;

    #[test]
    fn loopback_targets_are_allowed() {
        for ok in ["127.0.0.1:8080", "127.5.6.7:1", "[::1]:8080", "127.255.255.254:65535"] {
            assert!(parse_target(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn other_targets_are_refused() {
        for bad in [
            "10.0.0.1:8080",
            "192.168.1.1:8080",
            "172.16.0.1:80",
            "8.8.8.8:53",
            "0.0.0.0:8080",
            "[::]:8080",
            "[2001:db8::1]:80",
            "localhost:8080",
            "example.com:80",
            "127.0.0.1",
            "",
        ] {
            let err = parse_target(bad).expect_err(bad);
            assert!(err.contains("refusing") || err.contains("not an IP"), "{err}");
        }
    }
}
