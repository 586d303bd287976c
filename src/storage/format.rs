//! TEMPORARY stub (branch pkg owns this).
use crate::config::KafkaConfig;
pub struct StorageInfo {
    pub cluster_id: String,
}
#[derive(Debug, thiserror::Error)]
#[error("storage")]
pub struct StorageError;
pub fn ensure_formatted(config: &KafkaConfig) -> Result<StorageInfo, StorageError> {
    for d in &config.log_dirs {
        std::fs::create_dir_all(d).map_err(|_| StorageError)?;
    }
    Ok(StorageInfo {
        cluster_id: "stub-cluster-id-0000000".into(),
    })
}
