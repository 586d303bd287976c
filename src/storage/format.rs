//! Formatting storage, by `strom storage format` (Kafka's `kafka-storage format`) and on the
//! broker's first start, and the start-up consistency check.
//!
//! Kafka's broker refuses unformatted storage ("No readable meta.properties files found"),
//! which is the most common first-run failure of a Homebrew install. Strom formats it itself
//! instead, with exactly what the storage tool would have written, so the directory stays
//! usable by Apache Kafka too.

use super::StorageError;
use super::bootstrap::{self, METADATA_VERSION, Voter};
use super::ensemble::Ensemble;
use super::kafka_uuid;
use super::meta_properties::MetaProperties;
use crate::base::clock;
use crate::config::{KafkaConfig, Listener, ProcessRole};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// What start-up needs to know about formatted storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageInfo {
    /// The cluster the storage belongs to.
    pub cluster_id: String,
    /// The node it was formatted for (equal to the configured `node.id`).
    pub node_id: i32,
    /// Every directory (log dirs and the metadata dir) with its `directory.id`, sorted by path.
    pub directory_ids: Vec<(PathBuf, Uuid)>,
}

/// The quorum flags of `kafka-storage format`, which Kafka makes mutually exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumFlags {
    /// `--standalone`: this controller alone is the initial dynamic quorum.
    pub standalone: bool,
    /// `--initial-controllers id@host:port:dirid,...`.
    pub initial_controllers: Option<String>,
    /// `--no-initial-controllers`: join a dynamic quorum formatted elsewhere.
    pub no_initial_controllers: bool,
}

/// Everything formatting needs, resolved from configuration and command line, so the rules
/// can be tested without a configuration file.
#[derive(Debug, Clone)]
pub struct FormatRequest {
    /// Cluster id to write (`-t`).
    pub cluster_id: String,
    /// `node.id`.
    pub node_id: i32,
    /// All directories: `log.dirs` plus `metadata.log.dir`.
    pub directories: BTreeSet<PathBuf>,
    /// The metadata log directory (one of `directories`).
    pub metadata_dir: PathBuf,
    /// The initial dynamic quorum, if one is being formatted.
    pub initial_voters: Option<Vec<Voter>>,
    /// First of `controller.listener.names`: the listener name voters are reached on.
    pub controller_listener: String,
    /// `--ignore-formatted`.
    pub ignore_formatted: bool,
}

/// How Kafka describes a directory it formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryKind {
    /// A log directory that is not the metadata directory.
    Data,
    /// The metadata directory of a static quorum (`controller.quorum.voters`).
    Metadata,
    /// The metadata directory of a node that is not in the initial dynamic quorum.
    DynamicMetadata,
    /// The metadata directory of a node in the initial dynamic quorum.
    DynamicMetadataVoter,
}

impl fmt::Display for DirectoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DirectoryKind::Data => "data directory",
            DirectoryKind::Metadata => "metadata directory",
            DirectoryKind::DynamicMetadata => "dynamic metadata directory",
            DirectoryKind::DynamicMetadataVoter => "dynamic metadata voter directory",
        })
    }
}

/// One directory `format` wrote; displays as Kafka's progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatted {
    /// The directory.
    pub dir: PathBuf,
    /// How Kafka calls it.
    pub kind: DirectoryKind,
}

impl fmt::Display for Formatted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Formatting {} {} with metadata.version {METADATA_VERSION}.",
            self.kind,
            self.dir.display()
        )
    }
}

/// What `format` did.
#[derive(Debug, Default)]
pub struct FormatReport {
    /// Directories with an unreadable `meta.properties`, left alone.
    pub unreadable: Vec<PathBuf>,
    /// Directories written, in order.
    pub formatted: Vec<Formatted>,
}

impl FormatRequest {
    /// Applies `kafka-storage format`'s rules for the controller quorum and roles to `config`.
    pub fn from_config(
        config: &KafkaConfig,
        cluster_id: &str,
        flags: &QuorumFlags,
        ignore_formatted: bool,
    ) -> Result<FormatRequest, StorageError> {
        if config.node_id < 0 {
            return Err(StorageError::Invalid(
                "You must specify a valid non-negative node ID.".into(),
            ));
        }
        let controller_listener = config
            .controller_listener_names
            .first()
            .cloned()
            .ok_or_else(|| {
                StorageError::Invalid(
                    "You must specify the name of the initial controller listener.".into(),
                )
            })?;
        let is_controller = config.process_roles.contains(&ProcessRole::Controller);
        let static_voters = !config.controller_quorum_voters.is_empty();
        if static_voters && (flags.standalone || flags.initial_controllers.is_some()) {
            return Err(StorageError::Invalid(
                "You cannot specify controller.quorum.voters and format the node with --initial-controllers \
                 or --standalone. If you want to use dynamic quorum, please remove controller.quorum.voters \
                 and specify controller.quorum.bootstrap.servers instead."
                    .into(),
            ));
        }
        let initial_voters = match (&flags.initial_controllers, flags.standalone) {
            (Some(list), _) => Some(parse_initial_controllers(list)?),
            (None, true) => Some(vec![standalone_voter(
                config,
                is_controller,
                &controller_listener,
            )?]),
            (None, false) => None,
        };
        if !flags.no_initial_controllers
            && is_controller
            && !static_voters
            && initial_voters.is_none()
        {
            return Err(StorageError::Invalid(
                "Because controller.quorum.voters is not set on this controller, you must specify one of the \
                 following: --standalone, --initial-controllers, or --no-initial-controllers."
                    .into(),
            ));
        }
        let mut directories: BTreeSet<PathBuf> = config.log_dirs.iter().cloned().collect();
        directories.insert(config.metadata_log_dir.clone());
        Ok(FormatRequest {
            cluster_id: cluster_id.to_string(),
            node_id: config.node_id,
            directories,
            metadata_dir: config.metadata_log_dir.clone(),
            initial_voters,
            controller_listener,
            ignore_formatted,
        })
    }

    fn kind_of(&self, dir: &Path) -> DirectoryKind {
        match &self.initial_voters {
            _ if dir != self.metadata_dir => DirectoryKind::Data,
            None => DirectoryKind::Metadata,
            Some(voters) if voters.iter().any(|v| v.id == self.node_id) => {
                DirectoryKind::DynamicMetadataVoter
            }
            Some(_) => DirectoryKind::DynamicMetadata,
        }
    }
}

/// The single voter `--standalone` makes: this node on its advertised controller listener.
fn standalone_voter(
    config: &KafkaConfig,
    is_controller: bool,
    listener: &str,
) -> Result<Voter, StorageError> {
    if !is_controller {
        return Err(StorageError::Invalid(
            "You can only use --standalone on a controller.".into(),
        ));
    }
    let named = |l: &&Listener| l.name == listener;
    let endpoint = config
        .advertised_listeners
        .iter()
        .find(named)
        .or_else(|| config.listeners.iter().find(named))
        .ok_or_else(|| StorageError::Invalid("No controller listeners found.".into()))?;
    let host = if endpoint.host.is_empty() {
        "localhost"
    } else {
        endpoint.host.as_str()
    };
    Ok(Voter {
        id: config.node_id,
        directory_id: kafka_uuid::random(),
        host: host.into(),
        port: endpoint.port,
    })
}

/// Parses `--initial-controllers`: `id@host:port:directory-id`, comma separated (a host may be
/// a bracketed IPv6 address).
fn parse_initial_controllers(list: &str) -> Result<Vec<Voter>, StorageError> {
    let bad = |item: &str, why: &str| {
        StorageError::Invalid(format!(
            "Unable to parse dynamic voter '{item}' in --initial-controllers: {why}"
        ))
    };
    let mut voters: Vec<Voter> = Vec::new();
    for item in list.split(',').map(str::trim) {
        let (id, rest) = item
            .split_once('@')
            .ok_or_else(|| bad(item, "no @ found"))?;
        let id: i32 = id
            .parse()
            .map_err(|_| bad(item, "the node id is not an integer"))?;
        let (address, dir) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad(item, "no directory id found"))?;
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| bad(item, "no port found"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| bad(item, "the port is not a number"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let directory_id = kafka_uuid::parse(dir).map_err(|e| bad(item, &e))?;
        if voters.iter().any(|v| v.id == id) {
            return Err(bad(item, "node id appears more than once"));
        }
        voters.push(Voter {
            id,
            directory_id,
            host: host.into(),
            port,
        });
    }
    Ok(voters)
}

/// Formats every unformatted directory of `request`, as `kafka-storage format` does: checks
/// the formatted ones agree with the request, then writes `bootstrap.checkpoint`, the voter
/// snapshot in a dynamic-quorum metadata directory, and `meta.properties` last (so a directory
/// counts as formatted only once it is complete).
pub fn format(request: &FormatRequest) -> Result<FormatReport, StorageError> {
    let ensemble = Ensemble::load(request.directories.iter().map(PathBuf::as_path));
    ensemble.verify(Some(&request.cluster_id), Some(request.node_id))?;
    if let Some(first) = ensemble
        .formatted
        .keys()
        .next()
        .filter(|_| !request.ignore_formatted)
    {
        return Err(StorageError::AlreadyFormatted(first.clone()));
    }
    if ensemble.empty.is_empty() && ensemble.formatted.is_empty() {
        return Err(StorageError::NoAvailableLogDirs);
    }
    let now_ms = clock::now_ms();
    let mut report = FormatReport {
        unreadable: ensemble.unreadable.keys().cloned().collect(),
        ..Default::default()
    };
    let mut taken: Vec<Uuid> = Vec::new();
    for dir in &ensemble.empty {
        let kind = request.kind_of(dir);
        let voter = request
            .initial_voters
            .as_ref()
            .and_then(|v| v.iter().find(|v| v.id == request.node_id));
        let directory_id = match (kind, voter) {
            (DirectoryKind::DynamicMetadataVoter, Some(voter)) => voter.directory_id,
            _ => loop {
                let id = ensemble.new_directory_id();
                if !taken.contains(&id) {
                    break id;
                }
            },
        };
        taken.push(directory_id);
        std::fs::create_dir_all(dir).map_err(StorageError::io(dir))?;
        bootstrap::write_bootstrap_checkpoint(dir, now_ms)?;
        if let (
            DirectoryKind::DynamicMetadata | DirectoryKind::DynamicMetadataVoter,
            Some(voters),
        ) = (kind, &request.initial_voters)
        {
            bootstrap::write_voters_snapshot(dir, voters, &request.controller_listener, now_ms)?;
        }
        MetaProperties::v1(&request.cluster_id, request.node_id, directory_id).write(dir)?;
        report.formatted.push(Formatted {
            dir: dir.clone(),
            kind,
        });
    }
    Ok(report)
}

/// First-run formatting and consistency check, called by `strom server` before anything else:
/// formats unformatted dirs (cluster id from `config.cluster_id` or a fresh one; logs
/// `Formatting ... with metadata.version ...` like Kafka), refuses mismatches with Kafka's wording
/// (`Invalid cluster.id in: <path>. Expected <A>, but read <B>`), also when config.cluster_id differs
/// from what storage holds (message names both ids and the directory).
///
/// A controller without `controller.quorum.voters` is formatted as `--standalone` would, the
/// single-node quorum Strom is. A directory with an unreadable `meta.properties` stops start-up
/// (Kafka would take it offline; a single node has nowhere to move its partitions).
pub fn ensure_formatted(config: &KafkaConfig) -> Result<StorageInfo, StorageError> {
    let mut dirs: BTreeSet<PathBuf> = config.log_dirs.iter().cloned().collect();
    dirs.insert(config.metadata_log_dir.clone());
    let mut ensemble = Ensemble::load(dirs.iter().map(PathBuf::as_path));
    if let Some((_, err)) = ensemble.unreadable.pop_first() {
        return Err(err);
    }
    if let Some(configured) = &config.cluster_id {
        for (dir, meta) in &ensemble.formatted {
            match &meta.cluster_id {
                Some(stored) if stored != configured => {
                    return Err(StorageError::ConfiguredClusterIdMismatch {
                        path: MetaProperties::path_in(dir),
                        configured: configured.clone(),
                        stored: stored.clone(),
                    });
                }
                _ => {}
            }
        }
    }
    ensemble.verify(None, Some(config.node_id))?;
    if !ensemble.empty.is_empty() {
        let existing = ensemble
            .formatted
            .values()
            .find_map(|m| m.cluster_id.clone());
        let first_run = existing.is_none();
        let cluster_id = existing
            .or_else(|| config.cluster_id.clone())
            .unwrap_or_else(|| kafka_uuid::to_kafka_string(kafka_uuid::random()));
        let flags = QuorumFlags {
            standalone: first_run && config.controller_quorum_voters.is_empty(),
            no_initial_controllers: !first_run,
            initial_controllers: None,
        };
        let request = FormatRequest::from_config(config, &cluster_id, &flags, true)?;
        if first_run {
            tracing::info!(
                "No meta.properties found in {}; formatting storage for cluster {cluster_id}",
                join(&ensemble.empty)
            );
        }
        for formatted in format(&request)?.formatted {
            tracing::info!("{formatted}");
        }
    }
    storage_info(&dirs)
}

/// Reads back what every directory holds after formatting.
fn storage_info(dirs: &BTreeSet<PathBuf>) -> Result<StorageInfo, StorageError> {
    let ensemble = Ensemble::load(dirs.iter().map(PathBuf::as_path));
    if let Some(err) = ensemble.unreadable.into_values().next() {
        return Err(err);
    }
    let mut info = StorageInfo {
        cluster_id: String::new(),
        node_id: -1,
        directory_ids: Vec::new(),
    };
    for (dir, meta) in ensemble.formatted {
        info.cluster_id = meta.cluster_id.unwrap_or_default();
        info.node_id = meta.node_id.unwrap_or(-1);
        if let Some(id) = meta.directory_id {
            info.directory_ids.push((dir, id));
        }
    }
    Ok(info)
}

fn join(dirs: &BTreeSet<PathBuf>) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
