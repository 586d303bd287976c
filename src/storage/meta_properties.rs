//! `meta.properties`: the identity of a log directory (cluster, node, directory id).
//!
//! Kafka refuses to start on a directory without it ("No readable meta.properties files
//! found"), and compares it across directories to catch mixed-up disks, so the file is written
//! exactly as Kafka's storage tool writes it: Java-properties text, the same keys in the same
//! order, the same header comment, written to a temporary file, synced and renamed.

use super::{StorageError, kafka_uuid};
use crate::base::clock::UtcTime;
use crate::base::fsync::{fsync_dir, fsync_file};
use crate::config::properties::Properties;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use uuid::Uuid;

/// File name inside each log directory.
pub const META_PROPERTIES: &str = "meta.properties";

/// The contents of one `meta.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// `version`: 0 for ZooKeeper-era directories, 1 for KRaft (the only one Strom writes).
    pub version: u8,
    /// `cluster.id` (always present in version 1).
    pub cluster_id: Option<String>,
    /// `node.id` (version 1) or `broker.id` (version 0, optional there).
    pub node_id: Option<i32>,
    /// `directory.id`: lets the controller tell disks apart (KIP-858).
    pub directory_id: Option<Uuid>,
}

impl MetaProperties {
    /// A version-1 file, the kind `format` writes.
    pub fn v1(cluster_id: &str, node_id: i32, directory_id: Uuid) -> MetaProperties {
        MetaProperties {
            version: 1,
            cluster_id: Some(cluster_id.to_string()),
            node_id: Some(node_id),
            directory_id: Some(directory_id),
        }
    }

    /// Reads the file text with Kafka's rules (`MetaProperties.Builder(Properties)`).
    pub fn parse(text: &str) -> Result<MetaProperties, String> {
        let props = Properties::parse(text).map_err(|e| e.to_string())?;
        let version = match props.get("version").unwrap_or("0") {
            "0" => 0,
            "1" => 1,
            other => return Err(format!("Unknown meta.properties version number {other}")),
        };
        let int = |key: &str| -> Result<Option<i32>, String> {
            props
                .get(key)
                .map(|v| v.trim().parse::<i32>())
                .transpose()
                .map_err(|_| format!("Failed to parse {key} property as an int"))
        };
        let node_id = if version == 0 {
            int("broker.id")?
        } else {
            Some(int("node.id")?.ok_or("Failed to find required property node.id.")?)
        };
        let directory_id = props
            .get("directory.id")
            .map(|v| {
                kafka_uuid::parse(v)
                    .map_err(|e| format!("Unable to read directory.id as a Uuid: {e}"))
            })
            .transpose()?;
        let cluster_id = props.get("cluster.id").map(str::to_string);
        if version == 1 && cluster_id.is_none() {
            return Err("cluster.id was not specified in the v1 file".to_string());
        }
        Ok(MetaProperties {
            version,
            cluster_id,
            node_id,
            directory_id,
        })
    }

    /// The file text Kafka 4.1 writes on Java 17: the empty comment line, the date line, then
    /// the keys in the order of Java 17's `Properties` hash table (which is what `store`
    /// iterates). Readers never depend on the order; matching it keeps files diff-identical.
    pub fn to_text(&self, now: SystemTime) -> String {
        let node_key = if self.version == 0 {
            "broker.id"
        } else {
            "node.id"
        };
        let mut props = Properties::new();
        if let Some(node_id) = self.node_id {
            props.set(node_key, node_id.to_string());
        }
        if let Some(id) = self.directory_id {
            props.set("directory.id", kafka_uuid::to_kafka_string(id));
        }
        props.set("version", self.version.to_string());
        if let Some(cluster_id) = &self.cluster_id {
            props.set("cluster.id", cluster_id.as_str());
        }
        format!("#\n#{}\n{}", java_date(now), props.to_text())
    }

    /// Reads `dir/meta.properties`; `Ok(None)` when the directory is not formatted (the file or
    /// the directory itself does not exist).
    pub fn read(dir: &Path) -> Result<Option<MetaProperties>, StorageError> {
        let path = dir.join(META_PROPERTIES);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io(path)(e)),
        };
        MetaProperties::parse(&text)
            .map(Some)
            .map_err(|reason| StorageError::InvalidMetaProperties { path, reason })
    }

    /// Writes `dir/meta.properties` the way Kafka does: to `meta.properties.tmp`, fsync, then an
    /// atomic rename, so a crash never leaves a half-written identity behind.
    pub fn write(&self, dir: &Path) -> Result<(), StorageError> {
        let path = dir.join(META_PROPERTIES);
        let tmp = dir.join(format!("{META_PROPERTIES}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(self.to_text(SystemTime::now()).as_bytes())?;
            fsync_file(&file)?;
            fs::rename(&tmp, &path)?;
            fsync_dir(dir)
        };
        write().map_err(StorageError::io(path))
    }

    /// The path of the file for `dir`, for messages.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(META_PROPERTIES)
    }
}

/// `java.util.Date.toString()` in UTC, e.g. `Wed Nov 25 15:31:00 UTC 2026` (Kafka writes it as
/// the second comment line).
fn java_date(now: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = UtcTime::from(now);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[t.days_since_epoch.rem_euclid(7) as usize],
        MONTHS[(t.month - 1) as usize],
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// What Kafka 4.1.1's storage tool wrote (Java 17, TZ=UTC), see tests/fixtures/kafka-4.1.1.
    const KAFKA_WRITTEN: &str = include_str!("../../tests/fixtures/kafka-4.1.1/meta.properties");

    #[test]
    fn writes_the_same_bytes_as_kafka() {
        let parsed = MetaProperties::parse(KAFKA_WRITTEN).expect("Kafka's file parses");
        // The fixture was written at 2026-11-25 15:31:00 UTC.
        let at = UNIX_EPOCH + Duration::from_secs(1_795_620_660);
        assert_eq!(parsed.to_text(at), KAFKA_WRITTEN);
    }

    #[test]
    fn reads_kafka_fields() {
        let parsed = MetaProperties::parse(KAFKA_WRITTEN).expect("Kafka's file parses");
        assert_eq!(parsed.version, 1);
        assert_eq!(parsed.cluster_id.as_deref(), Some("MkU3OEVBNTcwNTJENDM2Qk"));
        assert_eq!(parsed.node_id, Some(1));
        assert!(parsed.directory_id.is_some());
    }

    #[test]
    fn rejects_what_kafka_rejects() {
        assert!(
            MetaProperties::parse("version=1\nnode.id=1\n").is_err(),
            "v1 without cluster.id"
        );
        assert!(
            MetaProperties::parse("version=1\ncluster.id=x\n").is_err(),
            "v1 without node.id"
        );
        assert!(MetaProperties::parse("version=2\ncluster.id=x\nnode.id=1\n").is_err());
        assert!(MetaProperties::parse("version=1\ncluster.id=x\nnode.id=one\n").is_err());
        assert!(
            MetaProperties::parse("version=1\ncluster.id=x\nnode.id=1\ndirectory.id=zz\n").is_err()
        );
        let v0 = MetaProperties::parse("broker.id=3\ncluster.id=x\n").expect("v0 is readable");
        assert_eq!((v0.version, v0.node_id), (0, Some(3)));
    }

    #[test]
    fn java_dates() {
        assert_eq!(java_date(UNIX_EPOCH), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(
            java_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
    }

    #[test]
    fn write_then_read_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let meta = MetaProperties::v1("abc", 7, kafka_uuid::random());
        meta.write(dir.path()).expect("written");
        assert_eq!(MetaProperties::read(dir.path()).expect("read"), Some(meta));
        assert!(!dir.path().join("meta.properties.tmp").exists());
        let missing = dir.path().join("nope");
        assert_eq!(
            MetaProperties::read(&missing).expect("missing is not an error"),
            None
        );
    }
}
