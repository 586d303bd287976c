//! Binding a listener's host: every address the host name resolves to.
//!
//! `listeners=PLAINTEXT://localhost:9092` is the shipped and the tutorial's setting. On macOS
//! `localhost` resolves to `::1` first and `127.0.0.1` second; binding only the first address
//! would leave clients that dial `127.0.0.1:9092` (and Strom's own tools) refused, while Apache
//! Kafka's JVM, which prefers IPv4, answers there. Binding every resolved address serves both,
//! IPv4 first as Java orders them, on one port.

use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpListener;
use tracing::warn;

/// How often a listener on port 0 is retried when the ephemeral port its first address got is
/// taken on one of its other addresses.
const EPHEMERAL_ATTEMPTS: usize = 5;

/// Resolves a listener host to its addresses; the system resolver in the broker, a stand-in in
/// tests (so the `::1`-first order of macOS can be tested anywhere).
pub(crate) trait Resolve {
    /// The addresses `host` resolves to, in the resolver's order.
    fn resolve(&self, host: &str) -> impl Future<Output = io::Result<Vec<IpAddr>>> + Send;
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
pub(crate) struct SystemResolver;

impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0))
            .await?
            .map(|a| a.ip())
            .collect())
    }
}

/// The order addresses are bound in: IPv4 before IPv6 (Java's default preference), otherwise the
/// resolver's order, each address once.
pub(crate) fn bind_order(resolved: impl IntoIterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut order: Vec<IpAddr> = Vec::new();
    for ip in resolved {
        if !order.contains(&ip) {
            order.push(ip);
        }
    }
    // A stable sort keeps the resolver's order within each family.
    order.sort_by_key(|ip| ip.is_ipv6());
    order
}

/// A bind failure: the address tried and what the OS said.
pub(crate) struct BindFailure {
    /// The `host:port` (or `ip:port`) that could not be bound.
    pub(crate) address: String,
    /// What the operating system said.
    pub(crate) source: io::Error,
}

/// Binds `host:port` on every address `host` resolves to (an IP literal is itself; an empty host
/// is the IPv4 wildcard, as before). The first address decides the port when `port` is 0; the
/// others are bound on the same port. Addresses of a family this machine has switched off are
/// skipped with a warning; any other failure fails the listener, as in Kafka.
pub(crate) async fn bind_host(
    resolver: &impl Resolve,
    host: &str,
    port: u16,
) -> Result<Vec<TcpListener>, BindFailure> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses = if host.is_empty() {
        vec![IpAddr::from([0, 0, 0, 0])]
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        vec![ip]
    } else {
        let resolved = resolver.resolve(host).await.map_err(|source| BindFailure {
            address: format!("{host}:{port}"),
            source,
        })?;
        bind_order(resolved)
    };
    let Some((&first, rest)) = addresses.split_first() else {
        return Err(BindFailure {
            address: format!("{host}:{port}"),
            source: io::Error::new(io::ErrorKind::NotFound, "the host resolves to no address"),
        });
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match bind_all(first, rest, port).await {
            Err(failure)
                if port == 0
                    && attempt < EPHEMERAL_ATTEMPTS
                    && failure.source.kind() == io::ErrorKind::AddrInUse =>
            {
                continue;
            }
            result => return result,
        }
    }
}

/// Binds `first` (on `port`), then every address of `rest` on the port `first` got.
async fn bind_all(
    first: IpAddr,
    rest: &[IpAddr],
    port: u16,
) -> Result<Vec<TcpListener>, BindFailure> {
    let bind = |ip: IpAddr, port: u16| async move {
        let address = SocketAddr::new(ip, port);
        TcpListener::bind(address)
            .await
            .map_err(|source| BindFailure {
                address: address.to_string(),
                source,
            })
    };
    let socket = bind(first, port).await?;
    let port = socket
        .local_addr()
        .map_err(|source| BindFailure {
            address: SocketAddr::new(first, port).to_string(),
            source,
        })?
        .port();
    let mut sockets = vec![socket];
    for &ip in rest {
        match bind(ip, port).await {
            Ok(socket) => sockets.push(socket),
            Err(failure) if family_unavailable(&failure.source) => warn!(
                "Not listening on {}: {} (this address family is not available here)",
                failure.address, failure.source
            ),
            Err(failure) => return Err(failure),
        }
    }
    Ok(sockets)
}

/// The errors of an address family that is switched off (IPv6 disabled while `/etc/hosts`
/// still maps `localhost` to `::1`), not of a port conflict.
fn family_unavailable(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AddrNotAvailable
        || e.raw_os_error() == Some(libc::EAFNOSUPPORT)
        || e.raw_os_error() == Some(libc::EPROTONOSUPPORT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A resolver answering like macOS does for `localhost`: `::1` first.
    struct MacLocalhost;

    impl Resolve for MacLocalhost {
        async fn resolve(&self, _host: &str) -> io::Result<Vec<IpAddr>> {
            Ok(vec![
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ])
        }
    }

    #[test]
    fn ipv4_comes_first_and_each_address_once() {
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let other4 = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(bind_order([v6, v4, v6, other4]), [v4, other4, v6]);
        assert_eq!(bind_order([v6]), [v6]);
        assert!(bind_order([]).is_empty());
    }

    fn ipv6_loopback_available() -> bool {
        std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
    }

    #[tokio::test]
    async fn a_host_resolving_to_ipv6_first_is_served_on_both_loopbacks_on_one_port() {
        let sockets = match bind_host(&MacLocalhost, "localhost", 0).await {
            Ok(s) => s,
            Err(f) => panic!("bind {}: {}", f.address, f.source),
        };
        let locals: Vec<SocketAddr> = sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
        assert_eq!(
            locals[0].ip(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "{locals:?}"
        );
        let port = locals[0].port();
        assert!(locals.iter().all(|a| a.port() == port), "{locals:?}");
        // Clients dialling 127.0.0.1 (the tools, the README) are answered.
        tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .expect("127.0.0.1 answers");
        if ipv6_loopback_available() {
            assert_eq!(locals.len(), 2, "{locals:?}");
            tokio::net::TcpStream::connect((Ipv6Addr::LOCALHOST, port))
                .await
                .expect("::1 answers");
        } else {
            println!("SKIP the ::1 half: this machine has no IPv6 loopback");
            assert_eq!(locals.len(), 1, "{locals:?}");
        }
    }

    #[tokio::test]
    async fn a_taken_port_on_any_address_fails_the_listener() {
        let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let failure = bind_host(&MacLocalhost, "localhost", port)
            .await
            .expect_err("refused");
        assert_eq!(failure.source.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(failure.address, format!("127.0.0.1:{port}"));
    }

    #[tokio::test]
    async fn ip_literals_are_not_resolved() {
        struct Refuses;
        impl Resolve for Refuses {
            async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
                panic!("{host} should not be resolved")
            }
        }
        let s = bind_host(&Refuses, "127.0.0.1", 0)
            .await
            .ok()
            .expect("bound");
        assert_eq!(s.len(), 1);
    }
}
