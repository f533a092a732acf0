//! Who is at the other end of a request: the peer's address, or — when the peer is
//! one of the operator's reverse proxies (`trusted_proxies`) — the client named in
//! `X-Forwarded-For`. The audit log, the login rate limit and sessions record it.
//! A header from anyone else is ignored: it cannot be used to hide or to frame.

use super::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The client's address, as far as this host can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the
/// right-most address of `X-Forwarded-For` that is not a trusted proxy (each proxy
/// appends the address it received from, so anything left of that was written by
/// the client and proves nothing). A malformed entry stops the walk at the last
/// address known good.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = ip;
        if !trusted(&ip) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[::1]:5678`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// Middleware: puts the request's [`ClientAddr`] in its extensions.
pub async fn remember(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    {
        let ip = client_ip(peer, req.headers(), &state.trusted_proxies);
        req.extensions_mut().insert(ClientAddr(ip));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers(&["203.0.113.7"]);
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &proxies),
            ip("198.51.100.1")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &proxies), ip("203.0.113.7"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), &h, &[]),
            ip("10.0.0.2"),
            "none trusted"
        );
    }

    #[test]
    fn a_forged_left_part_is_skipped_and_proxy_chains_are_walked() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // The client wrote 1.1.1.1 itself; the edge proxy appended what it saw.
        let h = headers(&["1.1.1.1, 203.0.113.7, 10.0.0.9"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &proxies), ip("203.0.113.7"));
        // Several header lines are one list, in order.
        let h = headers(&["1.1.1.1", "203.0.113.7:4431"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &proxies), ip("203.0.113.7"));
        let h = headers(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &proxies), ip("2001:db8::1"));
        // Garbage stops the walk at the last good address; no header: the proxy.
        let h = headers(&["203.0.113.7, unknown"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &proxies), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &proxies),
            ip("10.0.0.2")
        );
    }
}
