//! The socket server and the broker's life cycle: start-up (catalog, logs, listeners),
//! background tasks, and clean shutdown.

mod background;
mod connection;
/// Public for the fuzz harness (`fuzz/`, `tests/fuzz.rs`), which feeds arbitrary bytes through
/// the framing and header parsing every connection uses.
pub mod frame;
mod limits;
mod listen;
pub mod rlimit;
mod transport;

use crate::config::{KafkaConfig, Listener};
use crate::coordinator::group::{GroupConfig, GroupCoordinator};
use crate::coordinator::transaction::{TransactionCoordinator, TxnConfig};
use crate::coordinator::{ProducerIdError, ProducerIdManager};
use crate::handlers::{BrokerState, FetchSessionCache};
use crate::log::{LogError, LogManager, TopicPartition};
use crate::metadata::{CatalogError, TopicAdmin, TopicCatalog, TopicDefaults};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

/// How long shutdown waits for in-flight requests before closing connections anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener's address is taken or not ours.
    #[error("Socket server failed to bind to {address}: {source}")]
    Bind {
        /// The `host:port` of the listener.
        address: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The topic catalog could not be loaded.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The logs could not be loaded (or flushed at shutdown).
    #[error(transparent)]
    Log(#[from] LogError),
    /// The producer-id block could not be read.
    #[error(transparent)]
    ProducerIds(#[from] ProducerIdError),
    /// The log cleaner could not start (e.g. a dedupe buffer too small for one key).
    #[error("{0}")]
    LogCleaner(String),
    /// `max.connections.per.ip.overrides` is malformed.
    #[error(transparent)]
    ConnectionLimits(#[from] limits::OverridesError),
    /// The open-file limit is too low for the logs on disk.
    #[error(transparent)]
    OpenFiles(#[from] rlimit::TooFewOpenFiles),
    /// Every listener is a controller listener.
    #[error(
        "No listener to serve clients on: every listener in 'listeners' is a controller listener"
    )]
    NoListener,
}

/// A listener bound to its socket, with what it advertises.
struct BoundListener {
    listener: Listener,
    socket: TcpListener,
    local: SocketAddr,
    advertised: Listener,
}

/// A started broker: state loaded, sockets bound, not yet serving.
pub struct Broker {
    state: Arc<BrokerState>,
    listeners: Vec<BoundListener>,
    quotas: Arc<limits::ConnectionQuotas>,
}

impl Broker {
    /// Loads the catalog and the logs and binds every client listener. `cluster_id` comes
    /// from formatted storage (`meta.properties`).
    pub async fn start(config: KafkaConfig, cluster_id: String) -> Result<Broker, ServerError> {
        let config = Arc::new(config);
        let limit = rlimit::raise_open_file_limit();
        let (partitions, segments) = LogManager::count_on_disk(&config.log_dirs);
        rlimit::check_open_files(limit, &config.log_dirs, partitions, segments)?;
        let catalog =
            TopicCatalog::load(&config.metadata_log_dir, config.node_id, config.log.clone())?;
        // Dynamic broker configs recorded in the metadata log take precedence over the file.
        catalog.apply_broker_defaults(config.log_defaults(&catalog.dynamic_broker_configs()));
        let threads = config.num_recovery_threads_per_data_dir.max(1) as usize;
        let logs = {
            let lookup = |topic: &str| {
                catalog
                    .get(topic)
                    .map(|t| t.config.clone())
                    .unwrap_or_else(|| config.log.clone())
            };
            LogManager::startup(&config.log_dirs, &lookup, threads)?
        };
        // A crash between writing the catalog and creating a log leaves a partition without a
        // log: create it now. A log left of another topic id (a deleted topic whose directory
        // rename did not survive a crash, then a new topic of the same name) is set aside.
        for t in catalog.all() {
            for p in 0..t.partitions {
                let tp = TopicPartition {
                    topic: t.name.clone(),
                    partition: p,
                };
                let log = logs.get_or_create(&tp, t.id, t.config.clone())?;
                log.set_leader_epoch(t.leader_epoch(p));
            }
        }
        let catalog = Arc::new(catalog);
        let producer_ids = Arc::new(ProducerIdManager::open(
            catalog.clone(),
            &config.metadata_log_dir,
        )?);
        let logs = Arc::new(logs);
        let topic_admin = TopicAdmin::new(
            catalog.clone(),
            logs.clone(),
            TopicDefaults {
                node_id: config.node_id,
                num_partitions: config.num_partitions,
                default_replication_factor: config.default_replication_factor,
                broker: config.clone(),
            },
        );
        let groups = Arc::new(GroupCoordinator::new(
            config.node_id,
            GroupConfig::from_broker(&config),
        ));
        let on_delete = groups.clone();
        topic_admin.on_topic_deleted(move |topic| on_delete.on_topic_deleted(topic));
        groups.attach_existing(&topic_admin);
        let quotas = Arc::new(limits::ConnectionQuotas::new(
            config.max_connections,
            config.max_connections_per_ip,
            &config.max_connections_per_ip_overrides,
        )?);
        let fetch_sessions = FetchSessionCache::new(
            usize::try_from(config.max_incremental_fetch_session_cache_slots).unwrap_or(0),
        );
        let transactions = Arc::new(TransactionCoordinator::new(
            config.node_id,
            TxnConfig::from_broker(&config),
            producer_ids.clone(),
            logs.clone(),
            groups.clone(),
        ));
        transactions.attach_existing(&topic_admin);
        let listeners = bind_listeners(&config).await?;
        let state = Arc::new(BrokerState {
            node_id: config.node_id,
            cluster_id,
            config,
            catalog,
            logs,
            topic_admin,
            producer_ids,
            fetch_sessions,
            groups,
            transactions,
        });
        Ok(Broker {
            state,
            listeners,
            quotas,
        })
    }

    /// The addresses the client listeners are bound to (useful with port 0).
    pub fn local_addresses(&self) -> Vec<(String, SocketAddr)> {
        self.listeners
            .iter()
            .map(|l| (l.listener.name.clone(), l.local))
            .collect()
    }

    /// Serves clients until `shutdown` resolves, then shuts down cleanly: stop accepting,
    /// let in-flight requests finish, flush and checkpoint the logs, write the clean-shutdown
    /// marker.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServerError> {
        self.state
            .logs
            .start_cleaner(&self.state.config.log_cleaner)
            .map_err(ServerError::LogCleaner)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        let background = background::spawn(self.state.clone(), stop_rx.clone());
        let mut accept_loops = JoinSet::new();
        let (conn_tx, mut conn_rx) = tokio::sync::mpsc::channel(64);
        for l in self.listeners {
            info!(
                "Awaiting socket connections on {} (listener {}, advertised as {}:{}).",
                l.local, l.listener.name, l.advertised.host, l.advertised.port
            );
            accept_loops.spawn(accept_loop(
                l,
                self.quotas.clone(),
                conn_tx.clone(),
                stop_rx.clone(),
            ));
        }
        drop(conn_tx);
        info!(
            "[KafkaServer id={}] started (cluster id {}, data in {})",
            self.state.node_id,
            self.state.cluster_id,
            self.state
                .config
                .log_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        let shared = Arc::new(connection::Shared {
            state: self.state.clone(),
            handling: tokio::sync::Semaphore::new(
                usize::try_from(self.state.config.queued_max_requests)
                    .unwrap_or(1)
                    .max(1),
            ),
        });
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = conn_rx.recv() => match accepted {
                    Some((stream, info, slot)) => {
                        let (reader, writer) = stream.into_split();
                        connections.spawn(connection::serve(
                            reader,
                            writer,
                            shared.clone(),
                            info,
                            stop_rx.clone(),
                            slot,
                        ));
                    }
                    None => break,
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        info!("[KafkaServer id={}] shutting down", self.state.node_id);
        let _ = stop_tx.send(true);
        self.state.groups.shutdown();
        self.state.transactions.shutdown();
        accept_loops.shutdown().await;
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                "Closing {} connection(s) that did not finish within {:?}",
                connections.len(),
                SHUTDOWN_GRACE
            );
            connections.shutdown().await;
        }
        let _ = background.await;
        let state = self.state.clone();
        let result = tokio::task::spawn_blocking(move || state.logs.shutdown()).await;
        match result {
            Ok(Ok(())) => info!(
                "[KafkaServer id={}] shut down completed",
                self.state.node_id
            ),
            Ok(Err(e)) => {
                error!("Error during log shutdown: {e}");
                return Err(e.into());
            }
            Err(e) => error!("Log shutdown task failed: {e}"),
        }
        Ok(())
    }
}

type Accepted = (
    tokio::net::TcpStream,
    crate::handlers::ConnectionInfo,
    limits::ConnectionGuard,
);

async fn accept_loop(
    l: BoundListener,
    quotas: Arc<limits::ConnectionQuotas>,
    tx: tokio::sync::mpsc::Sender<Accepted>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = l.socket.accept() => a,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                // Kafka's acceptor: wait while the broker is at max.connections, refuse an
                // address over its own limit.
                let slot = tokio::select! {
                    s = quotas.acquire(peer.ip()) => s,
                    _ = stop.changed() => return,
                };
                let slot = match slot {
                    Ok(slot) => slot,
                    Err(e) => {
                        info!(
                            "Rejected connection from {}, address already has the configured maximum of {} connections.",
                            peer.ip(),
                            e.limit
                        );
                        drop(stream);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let advertised_host = if l.advertised.host.is_empty() {
                    stream
                        .local_addr()
                        .map(|a| a.ip().to_string())
                        .unwrap_or_default()
                } else {
                    l.advertised.host.clone()
                };
                let info = crate::handlers::ConnectionInfo {
                    listener: l.listener.name.clone(),
                    peer,
                    advertised_host,
                    advertised_port: i32::from(l.advertised.port),
                };
                if tx.send((stream, info, slot)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                warn!("Error accepting connection on {}: {e}", l.local);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Binds every non-controller listener, on every address its host resolves to. The controller
/// listener serves the KRaft quorum, which a single node does not need, so it is not opened.
async fn bind_listeners(config: &KafkaConfig) -> Result<Vec<BoundListener>, ServerError> {
    let mut bound = Vec::new();
    for l in &config.listeners {
        let controller = config.controller_listener_names.contains(&l.name);
        let sockets = match listen::bind_host(&listen::SystemResolver, &l.host, l.port).await {
            Ok(sockets) => sockets,
            // The controller listener serves only the admin tools' `--bootstrap-controller`;
            // a taken port there costs those tools, not the clients.
            Err(f) if controller => {
                warn!(
                    "Controller listener {} could not bind {}: {}; tools using --bootstrap-controller cannot reach this node",
                    l.name, f.address, f.source
                );
                continue;
            }
            Err(f) => {
                return Err(ServerError::Bind {
                    address: f.address,
                    source: f.source,
                });
            }
        };
        for socket in sockets {
            let local = socket.local_addr().map_err(|source| ServerError::Bind {
                address: format!("{}:{}", l.host, l.port),
                source,
            })?;
            // Controller listeners are never in advertised.listeners: they advertise themselves.
            let mut advertised = config
                .advertised_listeners
                .iter()
                .find(|a| a.name == l.name && !controller)
                .cloned()
                .unwrap_or_else(|| l.clone());
            if advertised.port == 0 {
                advertised.port = local.port();
            }
            bound.push(BoundListener {
                listener: l.clone(),
                socket,
                local,
                advertised,
            });
        }
    }
    if bound
        .iter()
        .all(|b| config.controller_listener_names.contains(&b.listener.name))
    {
        return Err(ServerError::NoListener);
    }
    Ok(bound)
}
