//! How a client is counted: by its network, one rule for every place that counts callers (rate
//! limits, idempotency scopes, the server's connections per address).

use std::net::{IpAddr, Ipv6Addr};

/// The network a client address is counted as, wherever one is (rate limits, idempotency scopes,
/// the server's connections per address): an IPv4 address is itself, and so is an IPv4-mapped
/// IPv6 one (`::ffff:198.51.100.7` is `198.51.100.7`); an IPv6 address is its /64. A subscriber
/// gets a /64 at least (RFC 6177) and picks any of its 2^64 addresses at will, so counted per
/// /128 one machine was a fresh caller per address: 30 addresses of one /64 made 30
/// registrations.
pub fn counted_network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u64::MAX as u128))),
        v4 => v4,
    }
}

/// [`counted_network`] as a caller's name: `198.51.100.7`, `2001:db8:1:2::/64`.
pub fn counted_name(ip: IpAddr) -> String {
    match counted_network(ip) {
        IpAddr::V6(network) => format!("{network}/64"),
        v4 => v4.to_string(),
    }
}
