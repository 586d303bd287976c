//! Periodic log maintenance, as Kafka's `LogManager` schedules it: retention, time-based
//! flushes, recovery-point checkpoints and producer id expiry.

use crate::base::clock::now_ms;
use crate::handlers::BrokerState;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Kafka waits this long after start-up before the first retention pass (`InitialTaskDelayMs`).
const INITIAL_DELAY: Duration = Duration::from_secs(30);

fn interval_ms(ms: i64) -> Duration {
    Duration::from_millis(ms.clamp(1, i64::from(i32::MAX)) as u64)
}

/// Spawns the maintenance loops; they end when `stop` turns true.
pub fn spawn(state: Arc<BrokerState>, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let cfg = &state.config;
        let retention = every(
            state.clone(),
            stop.clone(),
            INITIAL_DELAY,
            interval_ms(cfg.log_retention_check_interval_ms),
            |s| {
                let deleted = s.logs.cleanup_logs(now_ms());
                if deleted > 0 {
                    info!("Log cleanup completed. {deleted} segment(s) deleted");
                }
            },
        );
        let flush = every(
            state.clone(),
            stop.clone(),
            INITIAL_DELAY,
            interval_ms(cfg.log_flush_scheduler_interval_ms),
            |s| s.logs.flush_dirty_logs(now_ms()),
        );
        let checkpoint = every(
            state.clone(),
            stop.clone(),
            INITIAL_DELAY,
            interval_ms(cfg.log_flush_offset_checkpoint_interval_ms),
            |s| {
                if let Err(e) = s.logs.checkpoint() {
                    warn!("Error while writing checkpoints: {e}");
                }
            },
        );
        let producer_expiry = every(
            state.clone(),
            stop.clone(),
            interval_ms(cfg.producer_id_expiration_check_interval_ms.into()),
            interval_ms(cfg.producer_id_expiration_check_interval_ms.into()),
            |s| {
                let removed = s
                    .logs
                    .remove_expired_producers(now_ms(), s.config.producer_id_expiration_ms.into());
                if removed > 0 {
                    info!("Removed {removed} expired producer ids");
                }
            },
        );
        let _ = tokio::join!(retention, flush, checkpoint, producer_expiry);
    })
}

/// Runs `task` on a blocking thread (it does file I/O) every `period` until stopped.
async fn every(
    state: Arc<BrokerState>,
    mut stop: watch::Receiver<bool>,
    initial: Duration,
    period: Duration,
    task: fn(&BrokerState),
) {
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + initial.min(period), period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let s = state.clone();
                let _ = tokio::task::spawn_blocking(move || task(&s)).await;
            }
            _ = stop.changed() => return,
        }
    }
}
