//! The `meta.properties` of all directories of one node, read together and checked against
//! each other, as Kafka's `MetaPropertiesEnsemble` does: every formatted directory must name
//! the same cluster and node, and no two may share a `directory.id`.

use super::StorageError;
use super::kafka_uuid;
use super::meta_properties::MetaProperties;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// The state of every directory of a node.
#[derive(Debug, Default)]
pub struct Ensemble {
    /// Directories with a readable `meta.properties`.
    pub formatted: BTreeMap<PathBuf, MetaProperties>,
    /// Directories without one (including directories that do not exist yet).
    pub empty: BTreeSet<PathBuf>,
    /// Directories whose `meta.properties` could not be read or understood.
    pub unreadable: BTreeMap<PathBuf, StorageError>,
}

impl Ensemble {
    /// Reads `meta.properties` in each directory.
    pub fn load<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Ensemble {
        let mut ensemble = Ensemble::default();
        for dir in dirs {
            match MetaProperties::read(dir) {
                Ok(Some(meta)) => {
                    ensemble.formatted.insert(dir.to_path_buf(), meta);
                }
                Ok(None) => {
                    ensemble.empty.insert(dir.to_path_buf());
                }
                Err(e) => {
                    ensemble.unreadable.insert(dir.to_path_buf(), e);
                }
            }
        }
        ensemble
    }

    /// Kafka's consistency checks, in Kafka's order: the first cluster id seen (or
    /// `expected_cluster`) must be every directory's, likewise the node id, and directory ids
    /// must be unique.
    pub fn verify(
        &self,
        expected_cluster: Option<&str>,
        expected_node: Option<i32>,
    ) -> Result<(), StorageError> {
        let mut cluster = expected_cluster.map(str::to_string);
        let mut node = expected_node;
        let mut seen: HashMap<Uuid, &Path> = HashMap::new();
        for (dir, meta) in &self.formatted {
            let path = MetaProperties::path_in(dir);
            if let Some(actual) = &meta.cluster_id {
                match &cluster {
                    None => cluster = Some(actual.clone()),
                    Some(expected) if expected != actual => {
                        return Err(StorageError::ClusterIdMismatch {
                            path,
                            expected: expected.clone(),
                            actual: actual.clone(),
                        });
                    }
                    Some(_) => {}
                }
            }
            if let Some(stored) = meta.node_id {
                match node {
                    None => node = Some(stored),
                    Some(expected) if expected != stored => {
                        return Err(StorageError::NodeIdMismatch {
                            path,
                            stored,
                            expected,
                        });
                    }
                    Some(_) => {}
                }
            }
            if let Some(id) = meta.directory_id
                && let Some(first) = seen.insert(id, dir)
            {
                return Err(StorageError::DuplicateDirectoryId {
                    id: kafka_uuid::to_kafka_string(id),
                    first: first.to_path_buf(),
                    second: dir.clone(),
                });
            }
        }
        Ok(())
    }

    /// A random directory id no formatted directory uses yet.
    pub fn new_directory_id(&self) -> Uuid {
        loop {
            let id = kafka_uuid::random();
            if self.formatted.values().all(|m| m.directory_id != Some(id)) {
                return id;
            }
        }
    }
}

/// What `kafka-storage info` prints for these directories of a KRaft node (Strom's
/// configuration always is one), and whether it found problems (the tool then exits with 1).
/// The wording and layout are Kafka's.
pub fn info_report(dirs: &BTreeSet<PathBuf>) -> (String, bool) {
    let mut problems = Vec::new();
    let mut found = Vec::new();
    let mut first: Option<MetaProperties> = None;
    for dir in dirs {
        if !dir.is_dir() {
            let what = if dir.exists() {
                "is not a directory"
            } else {
                "does not exist"
            };
            problems.push(format!("{} {what}", dir.display()));
            continue;
        }
        found.push(dir.display().to_string());
        match MetaProperties::read(dir) {
            Ok(None) => problems.push(format!("{} is not formatted.", dir.display())),
            Ok(Some(meta)) => match &first {
                None => first = Some(meta),
                Some(prev) if prev.cluster_id != meta.cluster_id => {
                    problems.push("Mismatched cluster IDs between storage directories.".into())
                }
                Some(prev) if prev.node_id != meta.node_id => {
                    problems.push("Mismatched node IDs between storage directories.".into())
                }
                Some(_) => {}
            },
            Err(StorageError::InvalidMetaProperties { path, reason }) => {
                problems.push(format!("Error loading {}: {reason}", path.display()))
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if first.as_ref().is_some_and(|m| m.version == 0) {
        problems.push(
            "The kafka configuration file appears to be for a cluster in KRaft mode, but the directories are \
             formatted for legacy mode."
                .into(),
        );
    }
    let mut out = String::new();
    if dirs.is_empty() {
        out.push_str("No directories specified.\n");
        return (out, false);
    }
    if !found.is_empty() {
        let noun = if found.len() == 1 {
            "directory"
        } else {
            "directories"
        };
        let _ = writeln!(out, "Found log {noun}:");
        for dir in &found {
            let _ = writeln!(out, "  {dir}");
        }
        out.push('\n');
    }
    if let Some(meta) = &first {
        let _ = writeln!(out, "Found metadata: {{{}}}\n", sorted_fields(meta));
    }
    if !problems.is_empty() {
        let noun = if problems.len() == 1 {
            "problem"
        } else {
            "problems"
        };
        let _ = writeln!(out, "Found {noun}:");
        for problem in &problems {
            let _ = writeln!(out, "  {problem}");
        }
        out.push('\n');
    }
    (out, !problems.is_empty())
}

/// `key=value, ...` sorted by key, as Java prints a `TreeMap` of the properties.
fn sorted_fields(meta: &MetaProperties) -> String {
    let mut fields = BTreeMap::new();
    fields.insert("version", meta.version.to_string());
    if let Some(c) = &meta.cluster_id {
        fields.insert("cluster.id", c.clone());
    }
    if let Some(n) = meta.node_id {
        fields.insert(
            if meta.version == 0 {
                "broker.id"
            } else {
                "node.id"
            },
            n.to_string(),
        );
    }
    if let Some(d) = meta.directory_id {
        fields.insert("directory.id", kafka_uuid::to_kafka_string(d));
    }
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, cluster: &str, node: i32) -> MetaProperties {
        std::fs::create_dir_all(dir).expect("dir");
        let meta = MetaProperties::v1(cluster, node, kafka_uuid::random());
        meta.write(dir).expect("written");
        meta
    }

    #[test]
    fn sorts_directories_into_formatted_empty_and_unreadable() {
        let t = tempfile::tempdir().expect("temp dir");
        let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
        write(&a, "X", 1);
        std::fs::create_dir_all(&c).expect("dir");
        std::fs::write(c.join("meta.properties"), "version=1\nnode.id=1\n").expect("written");
        let e = Ensemble::load([a.as_path(), b.as_path(), c.as_path()]);
        assert_eq!(e.formatted.keys().collect::<Vec<_>>(), [&a]);
        assert_eq!(e.empty.iter().collect::<Vec<_>>(), [&b]);
        assert_eq!(e.unreadable.keys().collect::<Vec<_>>(), [&c]);
    }

    #[test]
    fn mismatched_cluster_ids_are_reported_in_kafkas_words() {
        let t = tempfile::tempdir().expect("temp dir");
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        write(&a, "AAA", 1);
        write(&b, "BBB", 1);
        let err = Ensemble::load([a.as_path(), b.as_path()])
            .verify(None, Some(1))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Invalid cluster.id in: {}/meta.properties. Expected AAA, but read BBB",
                b.display()
            )
        );
    }

    #[test]
    fn node_id_and_duplicate_directory_ids_are_refused() {
        let t = tempfile::tempdir().expect("temp dir");
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        let meta = write(&a, "X", 1);
        let err = Ensemble::load([a.as_path()])
            .verify(None, Some(2))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Stored node id 1 doesn't match previous node id 2 in"),
            "{err}"
        );
        std::fs::create_dir_all(&b).expect("dir");
        meta.write(&b).expect("copied identity");
        let err = Ensemble::load([a.as_path(), b.as_path()])
            .verify(None, None)
            .unwrap_err();
        assert!(
            matches!(err, StorageError::DuplicateDirectoryId { .. }),
            "{err}"
        );
    }

    #[test]
    fn info_prints_like_kafka() {
        let t = tempfile::tempdir().expect("temp dir");
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        let meta = write(&a, "MkU3OEVBNTcwNTJENDM2Qk", 1);
        let dirs = BTreeSet::from([a.clone(), b.clone()]);
        let (text, problems) = info_report(&dirs);
        let id = kafka_uuid::to_kafka_string(meta.directory_id.expect("id"));
        assert!(problems);
        assert_eq!(
            text,
            format!(
                "Found log directory:\n  {}\n\nFound metadata: {{cluster.id=MkU3OEVBNTcwNTJENDM2Qk, \
                 directory.id={id}, node.id=1, version=1}}\n\nFound problem:\n  {} does not exist\n\n",
                a.display(),
                b.display()
            )
        );
        write(&b, "MkU3OEVBNTcwNTJENDM2Qk", 1);
        assert!(!info_report(&dirs).1);
        std::fs::write(
            b.join("meta.properties"),
            "broker.id=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\n",
        )
        .expect("a ZooKeeper-era file");
        std::fs::write(
            a.join("meta.properties"),
            "broker.id=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\n",
        )
        .expect("a ZooKeeper-era file");
        let (text, problems) = info_report(&dirs);
        assert!(
            problems && text.contains("formatted for legacy mode."),
            "{text}"
        );
    }
}
