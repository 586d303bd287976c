//! KRaft consistency checks between configs that are each valid alone, in the order and words
//! of Kafka's `KafkaConfig.validateValues`.

use super::error::{ConfigError, Location};
use super::listeners::Voter;
use super::{Listener, ProcessRole};
use std::collections::{BTreeMap, BTreeSet};

/// What the checks look at, already parsed.
pub(crate) struct Topology<'a> {
    pub node_id: i32,
    pub roles: &'a [ProcessRole],
    pub voters: &'a [Voter],
    pub bootstrap_servers: &'a [String],
    pub controller_listener_names: &'a [String],
    pub listeners: &'a [Listener],
    /// `advertised.listeners` as written, or `listeners` when it is not set.
    pub advertised: &'a [Listener],
    pub protocol_map: &'a BTreeMap<String, String>,
    pub inter_broker_listener_name: &'a str,
}

impl Topology<'_> {
    fn is_controller_name(&self, name: &str) -> bool {
        self.controller_listener_names.iter().any(|n| n == name)
    }

    /// Kafka's `effectiveAdvertisedBrokerListeners`.
    pub fn advertised_broker_listeners(&self) -> Vec<Listener> {
        self.advertised
            .iter()
            .filter(|l| !self.is_controller_name(&l.name))
            .cloned()
            .collect()
    }

    /// Kafka's `effectiveAdvertisedControllerListeners`: per controller name, its advertised
    /// listener, else its bound one.
    fn advertised_controller_listeners(&self) -> Vec<&Listener> {
        self.controller_listener_names
            .iter()
            .filter_map(|name| {
                self.advertised
                    .iter()
                    .find(|l| &l.name == name)
                    .or_else(|| self.listeners.iter().find(|l| &l.name == name))
            })
            .collect()
    }

    fn voter_ids(&self) -> BTreeSet<i32> {
        self.voters.iter().map(|v| v.id).collect()
    }

    /// `Set(0, 1)`, as Kafka's Scala code prints the voter ids.
    fn voter_set(&self) -> String {
        let ids: Vec<String> = self.voter_ids().iter().map(i32::to_string).collect();
        format!("Set({})", ids.join(", "))
    }
}

/// Runs the checks; `at` locates a config key for the error message.
pub(crate) fn check(t: &Topology<'_>, at: &dyn Fn(&str) -> Location) -> Result<(), ConfigError> {
    let fail = |message: String, key: &str| {
        Err(ConfigError::Inconsistent {
            message,
            at: at(key),
        })
    };
    let is_broker = t.roles.contains(&ProcessRole::Broker);
    let is_controller = t.roles.contains(&ProcessRole::Controller);
    let voter_ids = t.voter_ids();

    if voter_ids.is_empty() && t.bootstrap_servers.is_empty() {
        return fail(
            "If using process.roles, either controller.quorum.bootstrap.servers must contain the \
             set of bootstrap controllers or controller.quorum.voters must contain a parseable \
             set of controllers."
                .into(),
            "controller.quorum.voters",
        );
    }
    if is_broker && !is_controller {
        if voter_ids.contains(&t.node_id) {
            return fail(
                format!(
                    "If process.roles contains just the 'broker' role, the node id {} must not be \
                     included in the set of voters controller.quorum.voters={}",
                    t.node_id,
                    t.voter_set()
                ),
                "node.id",
            );
        }
        if t.controller_listener_names.is_empty() {
            return fail(
                "controller.listener.names must contain at least one value when running KRaft \
                 with just the broker role"
                    .into(),
                "controller.listener.names",
            );
        }
        if t.listeners.iter().any(|l| t.is_controller_name(&l.name)) {
            return fail(
                "controller.listener.names must not contain a value appearing in the 'listeners' \
                 configuration when running KRaft with just the broker role"
                    .into(),
                "controller.listener.names",
            );
        }
        if let Some(name) = t
            .controller_listener_names
            .iter()
            .find(|n| !t.protocol_map.contains_key(&n.to_ascii_uppercase()))
        {
            return fail(
                format!(
                    "Controller listener with name {name} defined in controller.listener.names not \
                     found in listener.security.protocol.map  (an explicit security mapping for \
                     each controller listener is required if listener.security.protocol.map is \
                     non-empty, or if there are security protocols other than PLAINTEXT in use)"
                ),
                "controller.listener.names",
            );
        }
    }
    if is_controller {
        if !is_broker && t.advertised_controller_listeners().len() != t.listeners.len() {
            return fail(
                "The listeners config must only contain KRaft controller listeners from \
                 controller.listener.names when process.roles=controller"
                    .into(),
                "listeners",
            );
        }
        if !voter_ids.is_empty() && !voter_ids.contains(&t.node_id) {
            return fail(
                format!(
                    "If process.roles contains the 'controller' role, the node id {} must be \
                     included in the set of voters controller.quorum.voters={}",
                    t.node_id,
                    t.voter_set()
                ),
                "node.id",
            );
        }
        if t.advertised_controller_listeners().is_empty() {
            return fail(
                "controller.listener.names must contain at least one value appearing in the \
                 'listeners' configuration when running the KRaft controller role"
                    .into(),
                "controller.listener.names",
            );
        }
        if !t
            .controller_listener_names
            .iter()
            .all(|n| t.listeners.iter().any(|l| &l.name == n))
        {
            return fail(
                "controller.listener.names must only contain values appearing in the 'listeners' \
                 configuration when running the KRaft controller role"
                    .into(),
                "controller.listener.names",
            );
        }
    }
    let advertised_brokers = t.advertised_broker_listeners();
    if is_broker {
        check_broker_listeners(t, &advertised_brokers, &fail)?;
    }
    let advertised_controllers = t.advertised_controller_listeners();
    let nonroutable = advertised_brokers.iter().any(|l| l.host == "0.0.0.0")
        || advertised_controllers.iter().any(|l| l.host == "0.0.0.0");
    if nonroutable {
        return fail(
            "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable \
             IP address."
                .into(),
            "advertised.listeners",
        );
    }
    Ok(())
}

/// The checks for a node with the broker role: something to advertise, the inter-broker
/// listener among it, and nothing advertised that is not bound.
fn check_broker_listeners(
    t: &Topology<'_>,
    advertised: &[Listener],
    fail: &dyn Fn(String, &str) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    let names = |ls: &[Listener]| -> Vec<String> {
        let mut names: Vec<String> = ls.iter().map(|l| l.name.clone()).collect();
        names.dedup();
        names
    };
    if advertised.is_empty() {
        return fail(
            "There must be at least one broker advertised listener. Perhaps all listeners appear \
             in controller.listener.names?"
                .into(),
            "advertised.listeners",
        );
    }
    if !advertised
        .iter()
        .any(|l| l.name == t.inter_broker_listener_name)
    {
        return fail(
            format!(
                "inter.broker.listener.name must be a listener name defined in \
                 advertised.listeners. The valid options based on currently configured listeners \
                 are {}",
                names(advertised).join(",")
            ),
            "inter.broker.listener.name",
        );
    }
    if !advertised
        .iter()
        .all(|a| t.listeners.iter().any(|l| l.name == a.name))
    {
        return fail(
            format!(
                "advertised.listeners listener names must be equal to or a subset of the ones \
                 defined in listeners. Found {}. The valid options based on the current \
                 configuration are {}",
                names(advertised).join(","),
                names(t.listeners).join(",")
            ),
            "advertised.listeners",
        );
    }
    Ok(())
}
