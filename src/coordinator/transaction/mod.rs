//! The transaction coordinator: Kafka's `TransactionCoordinator` and
//! `TransactionStateManager` for a single node.
//!
//! As in Kafka, transactional ids are sharded by `__transaction_state` partition
//! (`abs(javaHashCode(id)) % partitions`); every state change is written to that partition
//! (Kafka's `TransactionLogKey`/`TransactionLogValue`) before it is acknowledged, so a
//! transaction survives restarts and `kill -9`. At start-up each partition is read back in the
//! background (COORDINATOR_LOAD_IN_PROGRESS for its ids meanwhile), and a transaction found in
//! PrepareCommit or PrepareAbort is completed: its markers are written again and the Complete
//! state recorded.
//!
//! Ending a transaction writes PrepareCommit/PrepareAbort, then the COMMIT/ABORT markers to
//! every partition of the transaction (they are all local), then CompleteCommit/CompleteAbort,
//! all under the shard's lock. Markers written to `__consumer_offsets` are reported to the
//! [`MarkerListener`] (the group coordinator), which makes pending transactional offsets
//! visible or drops them.
//!
//! Transaction version 2 (KIP-890 part 2) is what clients that see `transaction.version=2`
//! finalized use: Produce v12+ and TxnOffsetCommit v5+ add partitions implicitly, and every
//! EndTxn v5+ bumps the producer epoch. Older request versions follow version 1 rules.

mod metadata;
pub mod records;

pub use metadata::{TxnMetadata, TxnState};

use crate::base::batch_encode::encode_single_batch;
use crate::coordinator::ProducerIdManager;
use crate::coordinator::group::partition_for;
use crate::log::control::{ControlRecordType, EndTxnMarker};
use crate::log::{LogManager, TopicPartition, UnifiedLog};
use crate::metadata::{TRANSACTION_STATE_TOPIC, TopicAdmin};
use bytes::{Buf, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::records::{Record, RecordBatchDecoder, TimestampType};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info, warn};

/// Coordinator epoch stamped on markers. A single node never changes coordinator, so no
/// marker can come from a zombie coordinator.
const COORDINATOR_EPOCH: i32 = 0;
/// Bytes read per step while loading a partition.
const LOAD_CHUNK: usize = 1024 * 1024;
/// The client transaction version of KIP-890 part 2 clients.
pub const TV2: i16 = 2;

/// Transaction settings from the broker config (`transaction.*`, `transactional.id.*`).
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.state.log.num.partitions`.
    pub num_partitions: i32,
    /// `transaction.state.log.replication.factor`.
    pub replication_factor: i16,
    /// `transaction.state.log.min.isr`.
    pub min_isr: i32,
    /// `transaction.state.log.segment.bytes`.
    pub segment_bytes: i32,
    /// `transaction.max.timeout.ms`.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`.
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub remove_interval_ms: i64,
    /// `transaction.partition.verification.enable`.
    pub verification_enabled: bool,
}

impl TxnConfig {
    /// The settings of `config`.
    pub fn from_broker(config: &crate::config::KafkaConfig) -> TxnConfig {
        TxnConfig {
            num_partitions: config.transaction_state_log_num_partitions,
            replication_factor: config.transaction_state_log_replication_factor,
            min_isr: config.transaction_state_log_min_isr,
            segment_bytes: config.transaction_state_log_segment_bytes,
            max_timeout_ms: config.transaction_max_timeout_ms,
            id_expiration_ms: config.transactional_id_expiration_ms.into(),
            abort_interval_ms: config
                .transaction_abort_timed_out_transaction_cleanup_interval_ms
                .into(),
            remove_interval_ms: config
                .transaction_remove_expired_transaction_cleanup_interval_ms
                .into(),
            verification_enabled: config.transaction_partition_verification_enable,
        }
    }
}

/// Told of every marker the coordinator writes, so the owner of the partition's data can act
/// on it (the group coordinator, for transactional offset commits).
pub trait MarkerListener: Send + Sync {
    /// A COMMIT (`commit`) or ABORT marker for `producer_id` was written at `offset` of `tp`.
    fn on_marker(&self, tp: &TopicPartition, producer_id: i64, commit: bool, offset: i64);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShardStatus {
    Loading,
    Active,
    Unavailable,
}

/// One `__transaction_state` partition's transactional ids.
struct Shard {
    status: ShardStatus,
    log: Arc<UnifiedLog>,
    txns: HashMap<String, TxnMetadata>,
}

/// One transaction as ListTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnListing {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// Its state's name.
    pub state: &'static str,
}

/// What ListTransactions filters on.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these states (empty: all).
    pub states: Vec<TxnState>,
    /// Only these producer ids (empty: all).
    pub producer_ids: Vec<i64>,
    /// Only transactions running at least this long (ms); negative: no filter.
    pub min_duration_ms: i64,
    /// Only ids matching this regular expression.
    pub id_pattern: Option<regex::Regex>,
}

/// The coordinator of every transactional id on this broker.
pub struct TransactionCoordinator {
    node_id: i32,
    config: TxnConfig,
    producer_ids: Arc<ProducerIdManager>,
    logs: Arc<LogManager>,
    listener: Arc<dyn MarkerListener>,
    shards: OnceLock<Vec<Arc<Mutex<Shard>>>>,
    stop: watch::Sender<bool>,
}

/// What InitProducerId decided.
enum InitOutcome {
    Ready(i64, i16),
    /// An open transaction was aborted to fence the old producer: retry.
    Fenced,
}

impl TransactionCoordinator {
    /// A coordinator that writes markers to `logs` and reports them to `listener`.
    pub fn new(
        node_id: i32,
        config: TxnConfig,
        producer_ids: Arc<ProducerIdManager>,
        logs: Arc<LogManager>,
        listener: Arc<dyn MarkerListener>,
    ) -> TransactionCoordinator {
        TransactionCoordinator {
            node_id,
            config,
            producer_ids,
            logs,
            listener,
            shards: OnceLock::new(),
            stop: watch::channel(false).0,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// Start-up: takes over `__transaction_state` if it exists (read back in the background).
    /// Must run inside the Tokio runtime.
    pub fn attach_existing(self: &Arc<Self>, admin: &TopicAdmin) {
        if admin.catalog().get(TRANSACTION_STATE_TOPIC).is_some() {
            // The topic exists; an error would only repeat at the first FindCoordinator.
            let _ = self.ensure_active(admin);
        }
    }

    /// FindCoordinator for a transactional id: makes sure `__transaction_state` exists
    /// (created on first use with `transaction.state.log.*`, as Kafka does) and its partitions
    /// are ours. COORDINATOR_NOT_AVAILABLE when it cannot be (replication factor above 1).
    pub fn ensure_active(self: &Arc<Self>, admin: &TopicAdmin) -> Result<(), ResponseError> {
        if self.shards.get().is_some() {
            return Ok(());
        }
        let info = admin.internal_topic(
            TRANSACTION_STATE_TOPIC,
            self.config.num_partitions,
            self.config.replication_factor,
            BTreeMap::from([
                ("cleanup.policy".to_string(), "compact".to_string()),
                ("compression.type".to_string(), "uncompressed".to_string()),
                (
                    "min.insync.replicas".to_string(),
                    self.config.min_isr.to_string(),
                ),
                (
                    "segment.bytes".to_string(),
                    self.config.segment_bytes.to_string(),
                ),
                (
                    "unclean.leader.election.enable".to_string(),
                    "false".to_string(),
                ),
            ]),
        )?;
        let logs = (0..info.partitions)
            .map(|p| admin.logs().get(&TopicPartition::new(info.name.clone(), p)))
            .collect::<Option<Vec<_>>>()
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        self.attach(logs);
        Ok(())
    }

    fn attach(self: &Arc<Self>, logs: Vec<Arc<UnifiedLog>>) {
        let mut fresh = false;
        self.shards.get_or_init(|| {
            fresh = true;
            logs.iter()
                .map(|log| {
                    Arc::new(Mutex::new(Shard {
                        status: ShardStatus::Loading,
                        log: log.clone(),
                        txns: HashMap::new(),
                    }))
                })
                .collect()
        });
        if !fresh {
            return;
        }
        for (partition, shard) in self.shards.get().into_iter().flatten().enumerate() {
            let me = self.clone();
            let shard = shard.clone();
            tokio::task::spawn_blocking(move || me.load(partition, &shard));
        }
        tokio::spawn(run_timers(self.clone(), self.stop.subscribe()));
    }

    /// Reads one partition back and completes transactions caught half-way.
    fn load(&self, partition: usize, shard: &Mutex<Shard>) {
        let started = std::time::Instant::now();
        let log = shard.lock().log.clone();
        let txns = match read_partition(&log) {
            Ok(txns) => txns,
            Err(e) => {
                error!(
                    "[TransactionCoordinator id={}] Failed to load transaction state from {TRANSACTION_STATE_TOPIC}-{partition}: {e}",
                    self.node_id
                );
                shard.lock().status = ShardStatus::Unavailable;
                return;
            }
        };
        let mut s = shard.lock();
        s.txns = txns;
        let pending: Vec<String> = s
            .txns
            .values()
            .filter(|m| matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .map(|m| m.transactional_id.clone())
            .collect();
        info!(
            "[Transaction State Manager {}]: Finished loading {} transaction metadata from {TRANSACTION_STATE_TOPIC}-{partition} in {} milliseconds, of which {} were pending completion",
            self.node_id,
            s.txns.len(),
            started.elapsed().as_millis(),
            pending.len()
        );
        for id in pending {
            if let Some(m) = s.txns.get(&id).cloned() {
                let commit = m.state == TxnState::PrepareCommit;
                info!(
                    "Completing transaction for {id} with producer id {} and epoch {}: writing {} markers",
                    m.producer_id,
                    m.producer_epoch,
                    if commit { "COMMIT" } else { "ABORT" }
                );
                if let Err(e) = self.complete(&mut s, m, commit) {
                    warn!("Could not complete transaction {id} after loading: {e:?}; will retry");
                }
            }
        }
        s.status = ShardStatus::Active;
    }

    /// Stops the timers.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    fn shard_of(&self, transactional_id: &str) -> Result<&Arc<Mutex<Shard>>, ResponseError> {
        // The record key stores the id with an int16 length; a longer id (possible in
        // flexible request versions) could not be written back correctly.
        if transactional_id.len() > i16::MAX as usize {
            return Err(ResponseError::InvalidRequest);
        }
        let shards = self.shards.get().ok_or(ResponseError::NotCoordinator)?;
        let p = partition_for(transactional_id, shards.len() as i32) as usize;
        shards.get(p).ok_or(ResponseError::NotCoordinator)
    }

    /// Runs `f` on the shard of `transactional_id` once it is loaded.
    fn with_shard<R>(
        &self,
        transactional_id: &str,
        f: impl FnOnce(&mut Shard) -> Result<R, ResponseError>,
    ) -> Result<R, ResponseError> {
        let shard = self.shard_of(transactional_id)?;
        let mut s = shard.lock();
        match s.status {
            ShardStatus::Loading => return Err(ResponseError::CoordinatorLoadInProgress),
            ShardStatus::Unavailable => return Err(ResponseError::NotCoordinator),
            ShardStatus::Active => {}
        }
        f(&mut s)
    }

    /// Whether `timeout_ms` is a valid `transaction.timeout.ms` (Kafka's
    /// `validateTransactionTimeoutMs`).
    fn valid_timeout(&self, timeout_ms: i32) -> bool {
        timeout_ms > 0 && timeout_ms <= self.config.max_timeout_ms
    }

    /// InitProducerId with a transactional id (Kafka's `handleInitProducerId`). `expected` is
    /// the producer id and epoch a KIP-360 client sends to bump its epoch after an error.
    /// An open transaction of an older instance is aborted (the epoch bumped to fence it) and
    /// CONCURRENT_TRANSACTIONS returned, so the client retries.
    pub fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ResponseError> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        if !self.valid_timeout(timeout_ms) {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let now = crate::base::clock::now_ms();
        let outcome = self.with_shard(transactional_id, |s| {
            let current = match s.txns.get(transactional_id) {
                Some(m) => m.clone(),
                None => TxnMetadata::new(
                    transactional_id,
                    self.new_producer_id()?,
                    timeout_ms,
                    now,
                ),
            };
            if let Some((pid, epoch)) = expected {
                let valid = current.producer_epoch == -1
                    || pid == current.producer_id
                    || (pid == current.prev_producer_id && metadata::is_epoch_exhausted(epoch));
                if !valid {
                    return Err(ResponseError::ProducerFenced);
                }
            }
            match current.state {
                TxnState::PrepareCommit | TxnState::PrepareAbort => {
                    Err(ResponseError::ConcurrentTransactions)
                }
                TxnState::Ongoing => {
                    // Fence the old instance: bump the epoch and abort its transaction.
                    let mut fenced = current.clone();
                    fenced.producer_epoch = fenced.producer_epoch.saturating_add(1);
                    fenced.last_producer_epoch = -1;
                    info!(
                        "Fencing producer {} of transactional id {transactional_id}: aborting its ongoing transaction at epoch {}",
                        fenced.producer_id, fenced.producer_epoch
                    );
                    self.end_transaction(s, fenced, false, false, now)?;
                    Ok(InitOutcome::Fenced)
                }
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    let mut next = current.clone();
                    if current.is_epoch_exhausted()
                        && expected.is_none_or(|(_, e)| e == current.producer_epoch)
                    {
                        next.prev_producer_id = current.producer_id;
                        next.producer_id = self.new_producer_id()?;
                        next.producer_epoch = 0;
                        next.last_producer_epoch = if expected.is_some() {
                            current.producer_epoch
                        } else {
                            -1
                        };
                    } else {
                        let bumped = current.producer_epoch.saturating_add(1);
                        match expected.map(|(_, e)| e) {
                            None => {
                                next.producer_epoch = bumped;
                                next.last_producer_epoch = -1;
                            }
                            Some(e) if current.producer_epoch == -1 || e == current.producer_epoch => {
                                next.producer_epoch = bumped;
                                next.last_producer_epoch = current.producer_epoch;
                            }
                            // A retry of a bump whose answer was lost.
                            Some(e) if e == current.last_producer_epoch => {}
                            Some(_) => return Err(ResponseError::ProducerFenced),
                        }
                    }
                    next.txn_timeout_ms = timeout_ms;
                    next.state = TxnState::Empty;
                    next.partitions.clear();
                    next.txn_start_timestamp = -1;
                    next.txn_last_update_timestamp = now;
                    next.next_producer_id = -1;
                    next.next_producer_epoch = -1;
                    persist(s, &next)?;
                    info!(
                        "[TransactionCoordinator id={}] Initialized transactionalId {transactional_id} with producerId {} and producer epoch {} on partition {TRANSACTION_STATE_TOPIC}-{}",
                        self.node_id,
                        next.producer_id,
                        next.producer_epoch,
                        s.log.topic_partition().partition
                    );
                    let answer = (next.producer_id, next.producer_epoch);
                    s.txns.insert(transactional_id.to_string(), next);
                    Ok(InitOutcome::Ready(answer.0, answer.1))
                }
                TxnState::Dead | TxnState::PrepareEpochFence => {
                    Err(ResponseError::ConcurrentTransactions)
                }
            }
        })?;
        match outcome {
            InitOutcome::Ready(pid, epoch) => Ok((pid, epoch)),
            InitOutcome::Fenced => Err(ResponseError::ConcurrentTransactions),
        }
    }

    fn new_producer_id(&self) -> Result<i64, ResponseError> {
        self.producer_ids.next_id().map_err(|e| {
            error!("Failed to allocate a producer id: {e}");
            ResponseError::KafkaStorageError
        })
    }

    /// The metadata of `transactional_id` if `producer_id` and `epoch` are its current ones
    /// (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED otherwise).
    fn owned<'a>(
        s: &'a Shard,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&'a TxnMetadata, ResponseError> {
        let m = s
            .txns
            .get(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        if m.producer_id != producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if m.producer_epoch != epoch {
            return Err(ResponseError::ProducerFenced);
        }
        Ok(m)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's offsets partition): the
    /// partitions join the transaction, which starts if none is open.
    pub fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[TopicPartition],
        client_txn_version: i16,
    ) -> Result<(), ResponseError> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        self.with_shard(transactional_id, |s| {
            let m = Self::owned(s, transactional_id, producer_id, epoch)?.clone();
            add_to_txn(s, m, partitions, client_txn_version)
        })
    }

    /// AddPartitionsToTxn v4+ `verify_only`: for each partition, whether it is in the open
    /// transaction: an error code each (0, or TRANSACTION_ABORTABLE if not).
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[TopicPartition],
    ) -> Result<Vec<i16>, ResponseError> {
        self.with_shard(transactional_id, |s| {
            let m = Self::owned(s, transactional_id, producer_id, epoch)?;
            Ok(partitions
                .iter()
                .map(|tp| {
                    if m.state == TxnState::Ongoing && m.partitions.contains(tp) {
                        0
                    } else {
                        ResponseError::TransactionAbortable.code()
                    }
                })
                .collect())
        })
    }

    /// Runs `write` (a transactional write to `tp`) only if `tp` is part of the producer's
    /// open transaction (KIP-890 verification), adding it first when `add` (transaction
    /// version 2: Produce v12+, TxnOffsetCommit v5+). The shard stays locked during `write`,
    /// so the transaction cannot end between the check and the write.
    pub fn with_verified<R>(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        tp: &TopicPartition,
        add: bool,
        write: impl FnOnce() -> R,
    ) -> Result<R, ResponseError> {
        self.with_shard(transactional_id, |s| {
            let m = Self::owned(s, transactional_id, producer_id, epoch)?.clone();
            let member = m.state == TxnState::Ongoing && m.partitions.contains(tp);
            if !member {
                if !add {
                    return Err(ResponseError::TransactionAbortable);
                }
                add_to_txn(s, m, std::slice::from_ref(tp), TV2)?;
            }
            Ok(write())
        })
    }

    /// EndTxn from a client (Kafka's `endTransaction` with `isFromClient`). With transaction
    /// version 2 (`client_txn_version` 2, EndTxn v5+) the epoch is bumped and the answer
    /// carries the producer id and epoch to continue with.
    pub fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        client_txn_version: i16,
    ) -> Result<(i64, i16), ResponseError> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let now = crate::base::clock::now_ms();
        let tv2 = client_txn_version >= TV2;
        self.with_shard(transactional_id, |s| {
            let m = s
                .txns
                .get(transactional_id)
                .cloned()
                .ok_or(ResponseError::InvalidProducerIdMapping)?;
            let finished = if commit {
                TxnState::CompleteCommit
            } else {
                TxnState::CompleteAbort
            };
            // TV2: a retry after the bump (the answer was lost) sees the bumped epoch.
            let retry = tv2
                && epoch >= 0
                && m.producer_epoch.checked_sub(1) == Some(epoch)
                && (m.producer_id == producer_id || m.prev_producer_id == producer_id)
                && m.state == finished;
            if retry {
                return Ok((m.producer_id, m.producer_epoch));
            }
            if m.producer_id != producer_id {
                return Err(ResponseError::InvalidProducerIdMapping);
            }
            if m.producer_epoch != epoch {
                return Err(ResponseError::ProducerFenced);
            }
            match m.state {
                TxnState::Ongoing => {
                    let done = self.end_transaction(s, m, commit, tv2, now)?;
                    Ok((done.producer_id, done.producer_epoch))
                }
                TxnState::CompleteCommit | TxnState::CompleteAbort if m.state == finished => {
                    if tv2 && !commit {
                        // KIP-890: an abort with nothing open still bumps the epoch.
                        let done = self.end_transaction(s, m, commit, tv2, now)?;
                        Ok((done.producer_id, done.producer_epoch))
                    } else {
                        Ok((m.producer_id, m.producer_epoch))
                    }
                }
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                    if tv2 && !commit =>
                {
                    let done = self.end_transaction(s, m, commit, tv2, now)?;
                    Ok((done.producer_id, done.producer_epoch))
                }
                TxnState::PrepareCommit | TxnState::PrepareAbort => {
                    let same = (m.state == TxnState::PrepareCommit) == commit;
                    Err(if same {
                        ResponseError::ConcurrentTransactions
                    } else {
                        ResponseError::InvalidTxnState
                    })
                }
                _ => {
                    warn!(
                        "TransactionalId {transactional_id}: cannot {} a transaction in state {}",
                        if commit { "commit" } else { "abort" },
                        m.state.name()
                    );
                    Err(ResponseError::InvalidTxnState)
                }
            }
        })
    }

    /// Prepare, markers, complete. `m` is the metadata to end with (its epoch already
    /// bumped when fencing); `bump` bumps it once more (transaction version 2).
    fn end_transaction(
        &self,
        s: &mut Shard,
        m: TxnMetadata,
        commit: bool,
        bump: bool,
        now: i64,
    ) -> Result<TxnMetadata, ResponseError> {
        let mut prepared = m;
        prepared.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        if bump {
            prepared.client_txn_version = TV2;
            if prepared.is_epoch_exhausted() {
                prepared.next_producer_id = self.new_producer_id()?;
                prepared.next_producer_epoch = 0;
            } else {
                prepared.last_producer_epoch = prepared.producer_epoch;
                prepared.producer_epoch += 1;
            }
        }
        if prepared.state == TxnState::PrepareAbort && prepared.txn_start_timestamp < 0 {
            prepared.txn_start_timestamp = now;
        }
        prepared.txn_last_update_timestamp = now;
        persist(s, &prepared)?;
        crash_point("after-prepare");
        let id = prepared.transactional_id.clone();
        s.txns.insert(id, prepared.clone());
        self.complete(s, prepared, commit)
    }

    /// Writes the markers of a prepared transaction and records its completion.
    fn complete(
        &self,
        s: &mut Shard,
        prepared: TxnMetadata,
        commit: bool,
    ) -> Result<TxnMetadata, ResponseError> {
        let now = crate::base::clock::now_ms();
        let marker = EndTxnMarker {
            kind: if commit {
                ControlRecordType::Commit
            } else {
                ControlRecordType::Abort
            },
            coordinator_epoch: COORDINATOR_EPOCH,
        };
        for tp in &prepared.partitions {
            let Some(log) = self.logs.get(tp) else {
                // Kafka drops markers for partitions that no longer exist.
                info!("Skipping the transaction marker for {tp}: the partition no longer exists");
                continue;
            };
            match log.append_txn_marker(prepared.producer_id, prepared.producer_epoch, marker, now)
            {
                Ok(info) => {
                    self.listener
                        .on_marker(tp, prepared.producer_id, commit, info.first_offset);
                    crash_point("after-first-marker");
                }
                Err(e) if matches!(e.error_code(), 47 | 52) => {
                    // A newer producer epoch or coordinator already decided this partition.
                    warn!(
                        "Sending {}'s transaction marker for partition {tp} has permanently failed with error {e}; the marker is not needed",
                        prepared.transactional_id
                    );
                }
                Err(e) => {
                    error!(
                        "Failed to write the transaction marker of {} to {tp}: {e}",
                        prepared.transactional_id
                    );
                    return Err(ResponseError::CoordinatorNotAvailable);
                }
            }
        }
        let mut done = prepared;
        done.state = if commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        done.partitions.clear();
        done.txn_last_update_timestamp = now;
        if done.next_producer_id >= 0 {
            done.prev_producer_id = done.producer_id;
            done.producer_id = done.next_producer_id;
            done.producer_epoch = done.next_producer_epoch.max(0);
            done.last_producer_epoch = -1;
            done.next_producer_id = -1;
            done.next_producer_epoch = -1;
        }
        persist(s, &done)?;
        s.txns.insert(done.transactional_id.clone(), done.clone());
        Ok(done)
    }

    /// WriteTxnMarkers for one partition: writes the marker and reports it to the listener.
    /// Returns the partition's error code (0 on success).
    pub fn write_marker(
        &self,
        tp: &TopicPartition,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> i16 {
        let Some(log) = self.logs.get(tp) else {
            return ResponseError::UnknownTopicOrPartition.code();
        };
        let marker = EndTxnMarker {
            kind: if commit {
                ControlRecordType::Commit
            } else {
                ControlRecordType::Abort
            },
            coordinator_epoch,
        };
        let now = crate::base::clock::now_ms();
        match log.append_txn_marker(producer_id, producer_epoch, marker, now) {
            Ok(info) => {
                self.listener
                    .on_marker(tp, producer_id, commit, info.first_offset);
                0
            }
            Err(e) => e.error_code(),
        }
    }

    /// Aborts transactions open longer than their timeout (fencing the producer by bumping
    /// its epoch) and retries completions that failed, as Kafka's
    /// `abortTimedOutTransactions`.
    pub fn abort_timed_out(&self) {
        let now = crate::base::clock::now_ms();
        for shard in self.shards.get().into_iter().flatten() {
            let mut s = shard.lock();
            if s.status != ShardStatus::Active {
                continue;
            }
            let due: Vec<TxnMetadata> = s
                .txns
                .values()
                .filter(|m| {
                    matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
                        || (m.state == TxnState::Ongoing
                            && m.txn_start_timestamp + i64::from(m.txn_timeout_ms) < now)
                })
                .cloned()
                .collect();
            for m in due {
                let id = m.transactional_id.clone();
                let result = match m.state {
                    TxnState::PrepareCommit => self.complete(&mut s, m, true).map(|_| ()),
                    TxnState::PrepareAbort => self.complete(&mut s, m, false).map(|_| ()),
                    _ => {
                        info!(
                            "Aborting transaction {id} with producer id {} and epoch {}: it timed out after {} ms",
                            m.producer_id, m.producer_epoch, m.txn_timeout_ms
                        );
                        let mut fenced = m;
                        if !fenced.is_epoch_exhausted() {
                            fenced.producer_epoch += 1;
                        }
                        fenced.last_producer_epoch = -1;
                        self.end_transaction(&mut s, fenced, false, false, now)
                            .map(|_| ())
                    }
                };
                if let Err(e) = result {
                    warn!("Could not end transaction {id}: {e:?}; will retry");
                }
            }
        }
    }

    /// Removes transactional ids idle past `transactional.id.expiration.ms` with no open
    /// transaction (a tombstone each), as Kafka's `removeExpiredTransactionalIds`.
    pub fn remove_expired(&self) {
        let now = crate::base::clock::now_ms();
        for shard in self.shards.get().into_iter().flatten() {
            let mut s = shard.lock();
            if s.status != ShardStatus::Active {
                continue;
            }
            let expired: Vec<String> = s
                .txns
                .values()
                .filter(|m| {
                    m.state.is_complete_or_empty()
                        && now.saturating_sub(m.txn_last_update_timestamp)
                            >= self.config.id_expiration_ms
                })
                .map(|m| m.transactional_id.clone())
                .collect();
            for id in expired {
                match append_records(&s.log, vec![(records::key(&id), None)]) {
                    Ok(()) => {
                        s.txns.remove(&id);
                        info!("Removed expired transactional id {id}");
                    }
                    Err(e) => warn!("Could not remove expired transactional id {id}: {e:?}"),
                }
            }
        }
    }

    /// ListTransactions. LOAD_IN_PROGRESS while any partition is loading.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<TxnListing>, ResponseError> {
        let now = crate::base::clock::now_ms();
        let mut out = Vec::new();
        let mut loading = false;
        for shard in self.shards.get().into_iter().flatten() {
            let s = shard.lock();
            if s.status == ShardStatus::Loading {
                loading = true;
                continue;
            }
            for m in s.txns.values() {
                let state_ok = filter.states.is_empty() || filter.states.contains(&m.state);
                let pid_ok =
                    filter.producer_ids.is_empty() || filter.producer_ids.contains(&m.producer_id);
                let duration_ok = filter.min_duration_ms < 0
                    || (m.state == TxnState::Ongoing
                        && now.saturating_sub(m.txn_start_timestamp) >= filter.min_duration_ms);
                let id_ok = filter
                    .id_pattern
                    .as_ref()
                    .is_none_or(|r| r.is_match(&m.transactional_id));
                if state_ok && pid_ok && duration_ok && id_ok {
                    out.push(TxnListing {
                        transactional_id: m.transactional_id.clone(),
                        producer_id: m.producer_id,
                        state: m.state.name(),
                    });
                }
            }
        }
        if loading {
            return Err(ResponseError::CoordinatorLoadInProgress);
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(out)
    }

    /// DescribeTransactions for one id.
    pub fn describe(&self, transactional_id: &str) -> Result<TxnMetadata, ResponseError> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        self.with_shard(transactional_id, |s| {
            s.txns
                .get(transactional_id)
                .filter(|m| m.state != TxnState::Dead)
                .cloned()
                .ok_or(ResponseError::TransactionalIdNotFound)
        })
    }
}

/// Crash-safety tests stop the process at a named point of ending a transaction, as a
/// `kill -9` there would: `STROM_FAULT_TXN_CRASH=after-prepare` (the Prepare state is
/// written, no marker) or `after-first-marker` (one partition has its marker).
fn crash_point(name: &str) {
    static POINT: OnceLock<Option<String>> = OnceLock::new();
    let point = POINT.get_or_init(|| std::env::var("STROM_FAULT_TXN_CRASH").ok());
    if point.as_deref() == Some(name) {
        error!("STROM_FAULT_TXN_CRASH={name}: stopping the process now");
        std::process::abort();
    }
}

/// Adds `partitions` to the transaction of `m`, starting one if none is open.
fn add_to_txn(
    s: &mut Shard,
    m: TxnMetadata,
    partitions: &[TopicPartition],
    client_txn_version: i16,
) -> Result<(), ResponseError> {
    match m.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort => {
            return Err(ResponseError::ConcurrentTransactions);
        }
        TxnState::Ongoing if partitions.iter().all(|tp| m.partitions.contains(tp)) => {
            return Ok(());
        }
        TxnState::Dead | TxnState::PrepareEpochFence => {
            return Err(ResponseError::ConcurrentTransactions);
        }
        _ => {}
    }
    let now = crate::base::clock::now_ms();
    let mut next = m;
    if next.state != TxnState::Ongoing {
        next.partitions.clear();
        next.txn_start_timestamp = now;
        next.state = TxnState::Ongoing;
    }
    next.partitions.extend(partitions.iter().cloned());
    next.client_txn_version = client_txn_version;
    next.txn_last_update_timestamp = now;
    persist(s, &next)?;
    s.txns.insert(next.transactional_id.clone(), next);
    Ok(())
}

/// Writes `m`'s record to the shard's partition.
fn persist(s: &Shard, m: &TxnMetadata) -> Result<(), ResponseError> {
    append_records(
        &s.log,
        vec![(records::key(&m.transactional_id), Some(records::value(m)))],
    )
}

/// Appends records as one batch, mapping failures as Kafka's `appendTransactionToLog` does.
fn append_records(
    log: &UnifiedLog,
    kvs: Vec<(bytes::Bytes, Option<bytes::Bytes>)>,
) -> Result<(), ResponseError> {
    let now = crate::base::clock::now_ms();
    let batch: Vec<Record> = kvs
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: now,
            key: Some(key),
            value,
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    encode_single_batch(&batch, &mut buf).map_err(|e| {
        error!("Cannot encode a transaction log record: {e}");
        ResponseError::UnknownServerError
    })?;
    log.append_as_leader(&buf, now).map_err(|e| {
        error!("Appending to {} failed: {e}", log.topic_partition());
        match e.error_code() {
            10 | 18 => ResponseError::UnknownServerError,
            _ => ResponseError::NotCoordinator,
        }
    })?;
    Ok(())
}

/// Replays a `__transaction_state` partition: last record per id wins, tombstones remove.
fn read_partition(log: &UnifiedLog) -> Result<HashMap<String, TxnMetadata>, crate::log::LogError> {
    let mut txns = HashMap::new();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let data = log.read(offset, LOAD_CHUNK, true)?;
        if data.records.is_empty() {
            break;
        }
        let mut buf = data.records.bytes().clone();
        let before = offset;
        while buf.len() >= 61 {
            let length = (&buf[8..12]).get_i32();
            let total = 12 + length.max(0) as usize;
            if length < 0 || buf.len() < total {
                break;
            }
            let Some(header) = crate::log::BatchHeader::parse(&buf) else {
                break;
            };
            let mut batch = buf.split_to(total);
            offset = header.last_offset() + 1;
            if header.is_control() {
                continue;
            }
            match RecordBatchDecoder::decode(&mut batch) {
                Ok(set) => {
                    for r in set.records {
                        let Some(key) = r.key.as_ref() else { continue };
                        match records::decode(key, r.value.as_deref()) {
                            Ok((id, Some(m))) => {
                                txns.insert(id, m);
                            }
                            Ok((id, None)) => {
                                txns.remove(&id);
                            }
                            Err(e) => warn!(
                                "Skipping undecodable record at offset {} of {}: {e}",
                                r.offset,
                                log.topic_partition()
                            ),
                        }
                    }
                }
                Err(e) => warn!(
                    "Skipping undecodable batch at offset {} of {}: {e}",
                    header.base_offset,
                    log.topic_partition()
                ),
            }
        }
        if offset == before {
            warn!(
                "Stopped loading {} at offset {offset}: no complete batch returned",
                log.topic_partition()
            );
            break;
        }
    }
    Ok(txns)
}

/// Aborts timed-out transactions and expires idle ids on their intervals.
async fn run_timers(coordinator: Arc<TransactionCoordinator>, mut stop: watch::Receiver<bool>) {
    let every = |ms: i64| Duration::from_millis(ms.clamp(1, i64::from(i32::MAX)) as u64);
    let mut abort = tokio::time::interval(every(coordinator.config.abort_interval_ms));
    let mut remove = tokio::time::interval(every(coordinator.config.remove_interval_ms));
    abort.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    remove.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = abort.tick() => {
                let c = coordinator.clone();
                let _ = tokio::task::spawn_blocking(move || c.abort_timed_out()).await;
            }
            _ = remove.tick() => {
                let c = coordinator.clone();
                let _ = tokio::task::spawn_blocking(move || c.remove_expired()).await;
            }
            _ = stop.changed() => return,
        }
    }
}
