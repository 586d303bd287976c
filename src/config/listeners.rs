//! Endpoint syntax: `listeners`, `advertised.listeners`, `listener.security.protocol.map`,
//! `controller.quorum.voters` and `controller.quorum.bootstrap.servers`, parsed with Kafka's
//! grammar and Kafka's error messages.

use super::Listener;
use super::value::csv_list;
use std::collections::BTreeMap;

/// The security protocols Kafka knows (`SecurityProtocol`).
const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// Characters Kafka accepts in a host (`Utils.VALID_HOST_CHARACTERS`), IPv6 colons included.
fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '%' | '.' | '_' | ':')
}

/// Splits `host:port` / `[v6]:port` as Kafka's host/port pattern does: the port is the digits
/// after the last colon, brackets around the host are optional and dropped. `None` when the
/// text does not have that shape.
fn split_host_port(s: &str, allow_negative_port: bool) -> Option<(&str, &str)> {
    let (host, port) = s.rsplit_once(':')?;
    let digits = match port.strip_prefix('-') {
        Some(rest) if allow_negative_port => rest,
        _ => port,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let host = host.strip_prefix('[').unwrap_or(host);
    let host = host.strip_suffix(']').unwrap_or(host);
    host.chars().all(is_host_char).then_some((host, port))
}

/// Kafka's `ListenerName.normalised`.
fn normalise(name: &str) -> String {
    name.to_ascii_uppercase()
}

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`; names normalised to upper
/// case, protocols checked against Kafka's four).
pub(crate) fn parse_protocol_map(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    if raw.is_empty() {
        return Ok(map);
    }
    for entry in raw.split(',').map(str::trim) {
        let Some((name, protocol)) = entry.rsplit_once(':') else {
            return Err(format!(
                "Error parsing configuration property 'listener.security.protocol.map': \
                 '{entry}' is not of the form NAME:PROTOCOL"
            ));
        };
        let protocol = protocol.trim().to_ascii_uppercase();
        if !SECURITY_PROTOCOLS.contains(&protocol.as_str()) {
            return Err(format!(
                "Invalid security protocol `{}` defined in listener.security.protocol.map",
                protocol
            ));
        }
        map.insert(normalise(name.trim()), protocol);
    }
    Ok(map)
}

/// Whether a listener or controller name is also a secured protocol's name, which stops
/// Kafka from adding PLAINTEXT mappings for controller listeners on its own.
fn is_ssl_or_sasl(name: &str) -> bool {
    matches!(name, "SSL" | "SASL_SSL" | "SASL_PLAINTEXT")
}

/// The map Kafka actually uses (`effectiveListenerSecurityProtocolMap`): when the user did not
/// set one, the default map plus a PLAINTEXT mapping for each controller listener, unless some
/// listener is named after a secured protocol.
pub(crate) fn effective_protocol_map(
    configured: BTreeMap<String, String>,
    user_set: bool,
    controller_listener_names: &[String],
    listeners_raw: &str,
) -> BTreeMap<String, String> {
    if user_set {
        return configured;
    }
    let listener_names = csv_list(listeners_raw)
        .into_iter()
        .filter_map(|l| l.rsplit_once("://").map(|(name, _)| normalise(name)));
    let secured = controller_listener_names.iter().any(|n| is_ssl_or_sasl(n))
        || listener_names.clone().any(|n| is_ssl_or_sasl(&n));
    let mut map = configured;
    if !secured {
        for name in controller_listener_names
            .iter()
            .filter(|n| *n != "PLAINTEXT")
        {
            map.insert(name.clone(), "PLAINTEXT".into());
        }
    }
    map
}

/// Parses a listener list (`NAME://host:port,...`) as Kafka's `listenerListToEndPoints` does,
/// including its checks that names (and, for bound listeners, ports) are distinct.
pub(crate) fn parse_listeners(
    raw: &str,
    protocol_map: &BTreeMap<String, String>,
    require_distinct_ports: bool,
) -> Result<Vec<Listener>, String> {
    let mut listeners = Vec::new();
    for entry in csv_list(raw) {
        let listener = parse_endpoint(&entry)
            .ok_or_else(|| format!("Unable to parse {entry} to a broker endpoint"))
            .and_then(|(name, host, port)| {
                let port = port.parse::<u16>().map_err(|_| {
                    format!(
                        "Unable to parse {entry} to a broker endpoint (port {port} is not \
                         between 0 and 65535)"
                    )
                })?;
                if !protocol_map.contains_key(&name) {
                    return Err(format!("No security protocol defined for listener {name}"));
                }
                Ok(Listener {
                    name,
                    host: host.to_string(),
                    port,
                })
            })
            .map_err(|reason| format!("Error creating broker listeners from '{raw}': {reason}"))?;
        listeners.push(listener);
    }
    check_distinct(&listeners, raw, require_distinct_ports)?;
    Ok(listeners)
}

/// `NAME://host:port` → (normalised name, host, port text).
fn parse_endpoint(entry: &str) -> Option<(String, &str, &str)> {
    let (name, address) = entry.rsplit_once("://")?;
    let (host, port) = split_host_port(address, true)?;
    Some((normalise(name), host, port))
}

/// Kafka allows one name per listener, and one port per listener except that an IPv4 and an
/// IPv6 listener may share a port; port 0 (ephemeral) never clashes.
fn check_distinct(listeners: &[Listener], raw: &str, ports_too: bool) -> Result<(), String> {
    for (i, l) in listeners.iter().enumerate() {
        if listeners[..i].iter().any(|o| o.name == l.name) {
            return Err(format!(
                "Each listener must have a different name, listeners: {raw}"
            ));
        }
    }
    if !ports_too {
        return Ok(());
    }
    for l in listeners.iter().filter(|l| l.port != 0) {
        let same: Vec<&Listener> = listeners.iter().filter(|o| o.port == l.port).collect();
        let v4_and_v6 = same.len() == 2
            && same[0]
                .host
                .parse::<std::net::IpAddr>()
                .ok()
                .map(|a| a.is_ipv4())
                != same[1]
                    .host
                    .parse::<std::net::IpAddr>()
                    .ok()
                    .map(|a| a.is_ipv4())
            && same
                .iter()
                .all(|o| o.host.parse::<std::net::IpAddr>().is_ok());
        if same.len() > 1 && !v4_and_v6 {
            return Err(format!(
                "Each listener must have a different port, listeners: {raw}"
            ));
        }
    }
    Ok(())
}

/// One `controller.quorum.voters` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

const VOTER_FORM: &str = "Each entry should be in the form `{id}@{host}:{port}`.";

/// Parses `controller.quorum.voters` entries (`id@host:port`) with Kafka's messages.
pub(crate) fn parse_voters(entries: &[String]) -> Result<Vec<Voter>, String> {
    entries
        .iter()
        .map(|entry| {
            let parts: Vec<&str> = entry.split('@').collect();
            let [id, address] = parts[..] else {
                return Err(format!(
                    "Invalid configuration value for controller.quorum.voters. {VOTER_FORM}"
                ));
            };
            let id = id
                .parse::<i32>()
                .map_err(|_| format!("Failed to parse voter ID as an integer from {id}"))?;
            let (host, port) = split_host_port(address, false).ok_or_else(|| {
                format!(
                    "Failed to parse host name from entry {entry} for the configuration \
                     controller.quorum.voters. {VOTER_FORM}"
                )
            })?;
            let port = port.parse::<u16>().map_err(|_| {
                format!(
                    "Failed to parse host port from entry {entry} for the configuration \
                     controller.quorum.voters. {VOTER_FORM}"
                )
            })?;
            Ok(Voter {
                id,
                host: host.to_string(),
                port,
            })
        })
        .collect()
}

/// Checks `controller.quorum.bootstrap.servers` entries (`host:port`).
pub(crate) fn check_bootstrap_servers(entries: &[String]) -> Result<(), String> {
    for entry in entries {
        let parsed = split_host_port(entry, false).and_then(|(_, port)| port.parse::<u16>().ok());
        if parsed.is_none() {
            return Err(format!(
                "Failed to parse host name from {entry} for the configuration \
                 controller.quorum.bootstrap.servers. Each entry should be in the form \
                 \"{{host}}:{{port}}\""
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plaintext_map() -> BTreeMap<String, String> {
        parse_protocol_map("PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT").expect("valid")
    }

    fn l(name: &str, host: &str, port: u16) -> Listener {
        Listener {
            name: name.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn listeners_parse_hosts_ipv6_and_empty_host() {
        let got = parse_listeners(
            "PLAINTEXT://:9092, CONTROLLER://[::1]:9093",
            &plaintext_map(),
            true,
        );
        assert_eq!(
            got,
            Ok(vec![l("PLAINTEXT", "", 9092), l("CONTROLLER", "::1", 9093)])
        );
        let lower = parse_listeners("plaintext://localhost:0", &plaintext_map(), true);
        assert_eq!(lower, Ok(vec![l("PLAINTEXT", "localhost", 0)]));
    }

    #[test]
    fn listener_errors_use_kafka_words() {
        let map = plaintext_map();
        assert_eq!(
            parse_listeners("PLAINTEXT:localhost:9092", &map, true),
            Err(
                "Error creating broker listeners from 'PLAINTEXT:localhost:9092': Unable to \
                 parse PLAINTEXT:localhost:9092 to a broker endpoint"
                    .into()
            )
        );
        assert_eq!(
            parse_listeners("FOO://h:1", &map, true),
            Err(
                "Error creating broker listeners from 'FOO://h:1': No security protocol \
                 defined for listener FOO"
                    .into()
            )
        );
        assert!(
            parse_listeners("PLAINTEXT://h:99999", &map, true)
                .is_err_and(|e| e.contains("not between 0 and 65535"))
        );
        assert_eq!(
            parse_listeners("PLAINTEXT://a:1,PLAINTEXT://b:2", &map, true),
            Err("Each listener must have a different name, listeners: \
                 PLAINTEXT://a:1,PLAINTEXT://b:2"
                .into())
        );
        assert_eq!(
            parse_listeners("PLAINTEXT://a:1,CONTROLLER://b:1", &map, true),
            Err("Each listener must have a different port, listeners: \
                 PLAINTEXT://a:1,CONTROLLER://b:1"
                .into())
        );
    }

    #[test]
    fn ports_may_repeat_for_ipv4_and_ipv6_ephemeral_or_advertised() {
        let map = plaintext_map();
        assert!(
            parse_listeners("PLAINTEXT://127.0.0.1:1,CONTROLLER://[::1]:1", &map, true).is_ok()
        );
        assert!(parse_listeners("PLAINTEXT://a:0,CONTROLLER://b:0", &map, true).is_ok());
        assert!(parse_listeners("PLAINTEXT://a:1,CONTROLLER://b:1", &map, false).is_ok());
    }

    #[test]
    fn protocol_map_parses_and_validates() {
        assert_eq!(
            parse_protocol_map("Internal:plaintext , SSL:SSL"),
            Ok(BTreeMap::from([
                ("INTERNAL".to_string(), "PLAINTEXT".to_string()),
                ("SSL".to_string(), "SSL".to_string())
            ]))
        );
        assert_eq!(
            parse_protocol_map("PLAINTEXT:PLAINTEXT,CONTROLLER:FOO"),
            Err("Invalid security protocol `FOO` defined in listener.security.protocol.map".into())
        );
        assert!(parse_protocol_map("PLAINTEXT").is_err());
    }

    #[test]
    fn default_map_gains_controller_listeners_unless_secured_names_are_used() {
        let defaults = parse_protocol_map(
            "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
        )
        .expect("valid");
        let names = vec!["CONTROLLER".to_string()];
        let map = effective_protocol_map(defaults.clone(), false, &names, "PLAINTEXT://:9092");
        assert_eq!(map.get("CONTROLLER").map(String::as_str), Some("PLAINTEXT"));
        let map = effective_protocol_map(defaults.clone(), false, &names, "SSL://:9092");
        assert_eq!(map.get("CONTROLLER"), None);
        let map = effective_protocol_map(plaintext_map(), true, &names, "SSL://:9092");
        assert_eq!(map, plaintext_map());
    }

    #[test]
    fn voters_parse_with_kafka_messages() {
        let v = |s: &str| parse_voters(&[s.to_string()]);
        assert_eq!(
            v("0@[::1]:9093"),
            Ok(vec![Voter {
                id: 0,
                host: "::1".into(),
                port: 9093
            }])
        );
        assert_eq!(
            v("x"),
            Err(
                "Invalid configuration value for controller.quorum.voters. Each entry should \
                 be in the form `{id}@{host}:{port}`."
                    .into()
            )
        );
        assert_eq!(
            v("a@localhost:1"),
            Err("Failed to parse voter ID as an integer from a".into())
        );
        assert!(v("0@localhost:abc").is_err_and(|e| e.starts_with("Failed to parse host name")));
        assert!(check_bootstrap_servers(&["localhost:9093".into()]).is_ok());
        assert!(check_bootstrap_servers(&["localhost".into()]).is_err());
    }
}
