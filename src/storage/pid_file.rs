//! TEMPORARY stub (branch pkg owns this).
use super::format::StorageError;
use crate::config::KafkaConfig;
pub struct PidFile;
impl PidFile {
    pub fn create(config: &KafkaConfig) -> Result<PidFile, StorageError> {
        let _ = config;
        Ok(PidFile)
    }
}
