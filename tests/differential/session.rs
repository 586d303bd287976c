//! Sends the same request to both brokers and records the differences between the responses.

use super::diff::{Allowed, Difference, compare, flatten};
use crate::common::raw::RawClient;
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Request};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A connection that is reopened after the broker closed it (e.g. on an unsupported version).
struct Conn {
    port: u16,
    client: Option<RawClient>,
}

impl Conn {
    /// Sends `req`; None if the broker closed the connection instead of answering.
    fn call<R: Request>(&mut self, req: &R, version: i16) -> Option<R::Response> {
        let port = self.port;
        let client = self.client.get_or_insert_with(|| RawClient::connect(port));
        let payload = client.encode(req, version);
        client.send_frame(&payload);
        let answer = client.read_frame().and_then(|mut frame| {
            let key = ApiKey::try_from(R::KEY).ok()?;
            ResponseHeader::decode(&mut frame, key.response_header_version(version)).ok()?;
            R::Response::decode(&mut frame, version).ok()
        });
        if answer.is_none() {
            self.client = None;
        }
        answer
    }
}

/// Both brokers, the allow-list, and what the steps found so far.
pub struct Session<'a> {
    kafka: Conn,
    strom: Conn,
    allowed: &'a [Allowed],
    used: Vec<bool>,
    pub found: Vec<Difference>,
    pub steps: usize,
}

impl<'a> Session<'a> {
    pub fn new(kafka_port: u16, strom_port: u16, allowed: &'a [Allowed]) -> Session<'a> {
        Session {
            kafka: Conn {
                port: kafka_port,
                client: None,
            },
            strom: Conn {
                port: strom_port,
                client: None,
            },
            allowed,
            used: vec![false; allowed.len()],
            found: Vec::new(),
            steps: 0,
        }
    }

    /// Sends `req` at `version` to both and returns both answers without comparing them.
    pub fn send<R: Request>(
        &mut self,
        req: &R,
        version: i16,
    ) -> (Option<R::Response>, Option<R::Response>) {
        (self.kafka.call(req, version), self.strom.call(req, version))
    }

    /// Sends `req` to both, normalises each answer with `norm`, and compares them field by field.
    pub fn step_with<R: Request>(
        &mut self,
        step: &str,
        req: &R,
        version: i16,
        norm: impl Fn(&mut R::Response),
    ) -> (Option<R::Response>, Option<R::Response>)
    where
        R::Response: Debug,
    {
        let (mut k, mut s) = self.send(req, version);
        k.iter_mut().for_each(&norm);
        s.iter_mut().for_each(&norm);
        self.compare_flat(step, &flatten(&k), &flatten(&s));
        (k, s)
    }

    /// Sends `req` to Kafka only (`kafka`) or Strom only, without comparing (waiting for one
    /// broker to be ready without changing the other's state).
    pub fn send_one<R: Request>(
        &mut self,
        kafka: bool,
        req: &R,
        version: i16,
    ) -> Option<R::Response> {
        if kafka {
            self.kafka.call(req, version)
        } else {
            self.strom.call(req, version)
        }
    }

    /// Like [`Session::step_with`], but each broker gets its own request (e.g. carrying the
    /// producer id that broker handed out).
    pub fn step_each<R: Request>(
        &mut self,
        step: &str,
        kafka_req: &R,
        strom_req: &R,
        version: i16,
        norm: impl Fn(&mut R::Response),
    ) -> (Option<R::Response>, Option<R::Response>)
    where
        R::Response: Debug,
    {
        let mut k = self.kafka.call(kafka_req, version);
        let mut s = self.strom.call(strom_req, version);
        k.iter_mut().for_each(&norm);
        s.iter_mut().for_each(&norm);
        self.compare_flat(step, &flatten(&k), &flatten(&s));
        (k, s)
    }

    /// [`Session::step_with`] without normalisation.
    pub fn step<R: Request>(
        &mut self,
        step: &str,
        req: &R,
        version: i16,
    ) -> (Option<R::Response>, Option<R::Response>)
    where
        R::Response: Debug,
    {
        self.step_with(step, req, version, |_| {})
    }

    /// Compares two already flattened views of one step.
    pub fn compare_flat(
        &mut self,
        step: &str,
        kafka: &BTreeMap<String, String>,
        strom: &BTreeMap<String, String>,
    ) {
        self.steps += 1;
        let found = compare(step, kafka, strom, self.allowed, &mut self.used);
        self.found.extend(found);
    }

    /// Allow-list entries that no step needed (stale entries, reported but not fatal: some
    /// depend on timing).
    pub fn unused(&self) -> Vec<&Allowed> {
        self.allowed
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|(a, _)| a)
            .collect()
    }
}
