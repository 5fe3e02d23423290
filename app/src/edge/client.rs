//! Who is asking: the client's address (behind trusted proxies) and its user agent, as
//! the use cases record them and the limiter keys its buckets.

use std::net::IpAddr;
use std::sync::Arc;

use poem::Request;
use tessera_domain::session::ClientInfo;

use super::AppState;

/// The longest user agent kept, in characters.
const USER_AGENT_MAX_CHARS: usize = 512;

/// The client's address: the socket peer, or — only when the peer is a trusted proxy —
/// the right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
///
/// Hops are read right to left, as the proxies appended them. A hop may carry a port
/// (`192.0.2.1:443`, `[2001:db8::1]:443`, as some gateways write it); a hop that is no
/// address at all ends the walk and the peer is the client: skipping it would make the
/// attacker-written part to its left "the client".
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
    let trusted = req
        .data::<AppState>()
        .map(|s| Arc::clone(&s.trusted_proxies))
        .unwrap_or_default();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let headers: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    let hops: Vec<&str> = headers.iter().flat_map(|v| v.split(',')).collect();
    for hop in hops.into_iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(&ip) => continue,
            Some(ip) => return Some(ip),
            None => return Some(peer),
        }
    }
    Some(peer)
}

/// One `X-Forwarded-For` entry: an address, with or without a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

pub fn client_info(req: &Request) -> ClientInfo {
    ClientInfo {
        ip: client_ip(req).map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(USER_AGENT_MAX_CHARS).collect()),
    }
}
