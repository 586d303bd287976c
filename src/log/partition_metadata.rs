//! `partition.metadata`: the topic id of a partition directory, so a directory left over from
//! a deleted topic of the same name is never mistaken for the new one. Kafka's text format:
//!
//! ```text
//! version: 0
//! topic_id: <topic id in Kafka's URL-safe, unpadded base64>
//! ```

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::error::LogError;
use crate::base::fs;

/// File name inside the partition directory.
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// Kafka's string form of a topic id (`Uuid.toString`).
pub fn topic_id_to_string(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Writes the file durably (temp file, fsync, rename), as Kafka's `PartitionMetadataFile`.
pub fn write(dir: &Path, topic_id: Uuid) -> Result<(), LogError> {
    let path = dir.join(PARTITION_METADATA_FILE);
    let tmp = dir.join(format!("{PARTITION_METADATA_FILE}.tmp"));
    let text = format!("version: 0\ntopic_id: {}\n", topic_id_to_string(topic_id));
    let file = std::fs::File::create(&tmp).map_err(|e| LogError::io(&tmp, e))?;
    fs::write_all(&file, text.as_bytes(), &tmp).map_err(|e| LogError::io(&tmp, e))?;
    fs::sync_file(&file, &tmp).map_err(|e| LogError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| LogError::io(&path, e))
}

/// Reads the topic id; `None` if the file does not exist (Kafka writes it lazily).
pub fn read(dir: &Path) -> Result<Option<Uuid>, LogError> {
    let path = dir.join(PARTITION_METADATA_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(&path, e)),
    };
    let malformed = |reason: &str| LogError::MalformedFile {
        path: path.clone(),
        reason: reason.into(),
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("version: 0") {
        return Err(malformed("expected `version: 0` on the first line"));
    }
    let id = lines
        .next()
        .and_then(|l| l.trim().strip_prefix("topic_id:"))
        .map(str::trim)
        .ok_or_else(|| malformed("expected `topic_id: <id>` on the second line"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(id)
        .map_err(|_| malformed("topic id is not base64"))?;
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| malformed("topic id is not 16 bytes"))?;
    Ok(Some(Uuid::from_bytes(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(dir.path()).expect("missing"), None);
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        write(dir.path(), id).expect("write");
        let text = std::fs::read_to_string(dir.path().join(PARTITION_METADATA_FILE)).expect("read");
        assert_eq!(text, "version: 0\ntopic_id: ASNFZ4mrze8BI0VniavN7w\n");
        assert_eq!(read(dir.path()).expect("read"), Some(id));
        std::fs::write(dir.path().join(PARTITION_METADATA_FILE), "version: 1\n").expect("write");
        assert!(read(dir.path()).is_err());
    }
}
