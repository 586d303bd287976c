//! TEMPORARY interface stub: replaced by the log engine (branch `log`). Signatures match the brief.
#![allow(unused_variables, dead_code)]

use crate::config::LogConfig;
use bytes::{Bytes, BytesMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

pub struct LogAppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    pub log_append_time: i64,
    pub log_start_offset: i64,
    pub record_count: i64,
    pub duplicate: bool,
}
pub struct FetchDataInfo {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}
pub struct TimestampAndOffset {
    pub timestamp: i64,
    pub offset: i64,
    pub leader_epoch: i32,
}
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("offset out of range")]
    OffsetOutOfRange { offset: i64 },
    #[error("io")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}
impl LogError {
    pub fn error_code(&self) -> i16 {
        match self {
            LogError::OffsetOutOfRange { .. } => 1,
            LogError::Io { .. } => 56,
        }
    }
}
pub struct LogDirDescription {
    pub path: PathBuf,
    pub total_bytes: i64,
    pub usable_bytes: i64,
    pub partitions: Vec<(TopicPartition, u64)>,
}
pub struct UnifiedLog {
    tp: TopicPartition,
    notify: tokio::sync::Notify,
}
impl UnifiedLog {
    pub fn append_as_leader(
        &self,
        records: BytesMut,
        now_ms: i64,
    ) -> Result<LogAppendInfo, LogError> {
        Err(LogError::OffsetOutOfRange { offset: 0 })
    }
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<FetchDataInfo, LogError> {
        Err(LogError::OffsetOutOfRange { offset })
    }
    pub fn log_start_offset(&self) -> i64 {
        0
    }
    pub fn log_end_offset(&self) -> i64 {
        0
    }
    pub fn high_watermark(&self) -> i64 {
        0
    }
    pub fn fetch_offset_by_timestamp(
        &self,
        target: i64,
    ) -> Result<Option<TimestampAndOffset>, LogError> {
        Ok(None)
    }
    pub fn max_timestamp_and_offset(&self) -> Result<Option<TimestampAndOffset>, LogError> {
        Ok(None)
    }
    pub fn size_in_bytes(&self) -> u64 {
        0
    }
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    pub fn topic_id(&self) -> Uuid {
        Uuid::nil()
    }
    pub fn dir(&self) -> &Path {
        Path::new("")
    }
    pub fn config(&self) -> LogConfig {
        LogConfig::default()
    }
    pub fn update_config(&self, config: LogConfig) {}
    pub fn flush(&self) -> Result<(), LogError> {
        Ok(())
    }
    pub fn append_notify(&self) -> &tokio::sync::Notify {
        &self.notify
    }
}
pub struct LogManager;
impl LogManager {
    pub fn startup(
        log_dirs: &[PathBuf],
        topic_config: &dyn Fn(&str) -> LogConfig,
        recovery_threads: usize,
    ) -> Result<LogManager, LogError> {
        Ok(LogManager)
    }
    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<UnifiedLog>> {
        None
    }
    pub fn get_or_create(
        &self,
        tp: &TopicPartition,
        topic_id: Uuid,
        config: LogConfig,
    ) -> Result<Arc<UnifiedLog>, LogError> {
        Ok(Arc::new(UnifiedLog {
            tp: tp.clone(),
            notify: tokio::sync::Notify::new(),
        }))
    }
    pub fn delete(&self, tp: &TopicPartition) -> Result<(), LogError> {
        Ok(())
    }
    pub fn all_logs(&self) -> Vec<Arc<UnifiedLog>> {
        vec![]
    }
    pub fn describe_dirs(&self) -> Vec<LogDirDescription> {
        vec![]
    }
    pub fn cleanup_logs(&self, now_ms: i64) -> usize {
        0
    }
    pub fn flush_dirty_logs(&self, now_ms: i64) {}
    pub fn checkpoint(&self) -> Result<(), LogError> {
        Ok(())
    }
    pub fn shutdown(&self) -> Result<(), LogError> {
        Ok(())
    }
}
