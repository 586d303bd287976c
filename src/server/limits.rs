//! Kafka's `ConnectionQuotas`: `max.connections` (broker-wide; when reached, accepting waits for
//! a connection to close) and `max.connections.per.ip` with its overrides (a connection beyond
//! an address's limit is closed at once and logged).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;
use tokio::sync::Notify;

/// `max.connections.per.ip.overrides` that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("Invalid value {value} for configuration max.connections.per.ip.overrides: {reason}")]
pub struct OverridesError {
    value: String,
    reason: String,
}

/// Connections open per address and in all.
#[derive(Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// The broker's connection limits and current counts.
pub struct ConnectionQuotas {
    /// `max.connections`.
    max: usize,
    /// `max.connections.per.ip`.
    per_ip: usize,
    /// `max.connections.per.ip.overrides`, hosts resolved at start-up.
    overrides: HashMap<IpAddr, usize>,
    /// Current counts.
    counts: Mutex<Counts>,
    /// Wakes an accept loop waiting for a slot when a connection closes.
    freed: Notify,
}

/// A connection's place in the counts, given back when it is dropped.
pub struct ConnectionGuard {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
}

/// Why a connection was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct TooManyConnections {
    /// The address's limit.
    pub limit: usize,
}

impl ConnectionQuotas {
    /// Limits from the broker's settings. Override hosts are resolved now, as Kafka does.
    pub fn new(max: i32, per_ip: i32, overrides: &str) -> Result<ConnectionQuotas, OverridesError> {
        Ok(ConnectionQuotas {
            max: usize::try_from(max).unwrap_or(0),
            per_ip: usize::try_from(per_ip).unwrap_or(0),
            overrides: parse_overrides(overrides)?,
            counts: Mutex::new(Counts::default()),
            freed: Notify::new(),
        })
    }

    /// Takes a slot for a connection from `ip`: waits while the broker is at
    /// `max.connections`, then refuses if `ip` is at its own limit.
    pub async fn acquire(
        self: &Arc<Self>,
        ip: IpAddr,
    ) -> Result<ConnectionGuard, TooManyConnections> {
        loop {
            let freed = self.freed.notified();
            {
                let mut counts = self.counts.lock();
                if counts.total < self.max {
                    let limit = self.overrides.get(&ip).copied().unwrap_or(self.per_ip);
                    let held = counts.by_ip.get(&ip).copied().unwrap_or(0);
                    if held >= limit {
                        return Err(TooManyConnections { limit });
                    }
                    counts.total += 1;
                    *counts.by_ip.entry(ip).or_insert(0) += 1;
                    return Ok(ConnectionGuard {
                        quotas: Arc::clone(self),
                        ip,
                    });
                }
            }
            freed.await;
        }
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.counts.lock().total
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut counts = self.quotas.counts.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.by_ip.remove(&self.ip);
            }
        }
        drop(counts);
        self.quotas.freed.notify_one();
    }
}

/// Kafka's format: `host:count` pairs separated by commas; a host is a name or an address.
fn parse_overrides(value: &str) -> Result<HashMap<IpAddr, usize>, OverridesError> {
    let error = |reason: String| OverridesError {
        value: value.to_string(),
        reason,
    };
    let mut out = HashMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (host, count) = entry
            .rsplit_once(':')
            .ok_or_else(|| error(format!("'{entry}' is not host:count")))?;
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| error(format!("'{count}' is not a connection count")))?;
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (host, 0)
                .to_socket_addrs()
                .map_err(|e| error(format!("cannot resolve {host}: {e}")))?
                .map(|a| a.ip())
                .collect(),
        };
        for ip in addresses {
            out.insert(ip, count);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn per_ip_limit_refuses_and_overrides_apply() {
        let q = Arc::new(ConnectionQuotas::new(100, 2, "").expect("quotas"));
        let a = q.acquire(LOCAL).await.expect("first");
        let _b = q.acquire(LOCAL).await.expect("second");
        assert_eq!(
            q.acquire(LOCAL).await.err(),
            Some(TooManyConnections { limit: 2 })
        );
        drop(a);
        let _c = q.acquire(LOCAL).await.expect("a slot was given back");
        let q = Arc::new(ConnectionQuotas::new(100, 0, "127.0.0.1:1").expect("quotas"));
        let _only = q.acquire(LOCAL).await.expect("override allows one");
        assert!(q.acquire(LOCAL).await.is_err());
        let other: IpAddr = "10.0.0.1".parse().expect("ip");
        assert!(q.acquire(other).await.is_err(), "default 0 for others");
    }

    #[tokio::test]
    async fn max_connections_waits_for_a_slot() {
        let q = Arc::new(ConnectionQuotas::new(1, 10, "").expect("quotas"));
        let first = q.acquire(LOCAL).await.expect("first");
        let waiting = tokio::spawn({
            let q = q.clone();
            async move { q.acquire(LOCAL).await.is_ok() }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "waits while the broker is full");
        drop(first);
        assert!(waiting.await.expect("task"), "gets the freed slot");
        assert_eq!(q.total(), 0);
    }

    #[test]
    fn overrides_are_parsed_like_kafka() {
        let o = parse_overrides("127.0.0.1:5, localhost:7").expect("parse");
        assert_eq!(
            o.get(&LOCAL),
            Some(&7),
            "localhost resolves to 127.0.0.1; the last wins"
        );
        assert!(parse_overrides("nohost").is_err());
        assert!(parse_overrides("127.0.0.1:x").is_err());
        assert!(parse_overrides("").expect("empty").is_empty());
    }
}
