//! Feature levels (KIP-584): what this broker supports, what the cluster has finalized (the
//! FeatureLevelRecords of the metadata log), and UpdateFeatures' rules for changing them.

use super::TopicCatalog;
use super::records::MetadataRecord;
use kafka_protocol::ResponseError;

/// Features this broker supports, with the level range (Kafka 4.4's names; `metadata.version`
/// 7 is 3.3-IV3, 33 is 4.4-IV2). Share groups and Streams groups are not implemented, so
/// only their level 0 is supported.
pub const SUPPORTED_FEATURES: &[(&str, i16, i16)] = &[
    ("eligible.leader.replicas.version", 0, 1),
    ("group.version", 0, 1),
    ("kraft.version", 0, 1),
    ("metadata.version", 7, 33),
    ("share.version", 0, 0),
    ("streams.version", 0, 0),
    ("transaction.version", 0, 2),
];

/// `UpgradeType` of UpdateFeatures v1+ (v0's `allow_downgrade` maps to SAFE_DOWNGRADE).
pub const UPGRADE: i8 = 1;
/// Downgrade that loses no metadata.
pub const SAFE_DOWNGRADE: i8 = 2;

/// One requested feature change.
#[derive(Debug, Clone)]
pub struct FeatureUpdate {
    /// The feature's name.
    pub name: String,
    /// The level to finalize (0 removes the feature).
    pub level: i16,
    /// UPGRADE, SAFE_DOWNGRADE or UNSAFE_DOWNGRADE.
    pub upgrade_type: i8,
}

impl TopicCatalog {
    /// Checks and (unless `validate_only`) applies feature updates as FeatureLevelRecords;
    /// one result per update, with Kafka's error for a level it refuses.
    pub fn update_features(
        &self,
        updates: &[FeatureUpdate],
        validate_only: bool,
    ) -> Vec<Result<(), (ResponseError, String)>> {
        let finalized = self.features();
        let checked: Vec<_> = updates
            .iter()
            .map(|u| {
                let invalid = |why: String| {
                    Err((
                        ResponseError::InvalidUpdateVersion,
                        format!("Invalid update version {} for feature {}. {why}", u.level, u.name),
                    ))
                };
                let Some((_, min, max)) = SUPPORTED_FEATURES.iter().find(|(n, ..)| *n == u.name)
                else {
                    return invalid("The controller does not support the given feature.".into());
                };
                if u.name == "kraft.version" {
                    return invalid("Strom runs one node: the quorum's kraft.version does not change.".into());
                }
                let current = finalized.get(&u.name).copied().unwrap_or(0);
                if u.level != 0 && (u.level < *min || u.level > *max) {
                    return invalid(format!(
                        "The controller only supports versions {min} to {max}."
                    ));
                }
                if u.level < current && u.upgrade_type == UPGRADE {
                    return invalid(
                        "Can't downgrade to a newer version without setting the upgrade type to safe or unsafe downgrade."
                            .into(),
                    );
                }
                if u.name == "metadata.version" && u.level < current {
                    return invalid("Unsafe metadata.version downgrades are not supported.".into());
                }
                Ok(MetadataRecord::FeatureLevel {
                    name: u.name.clone(),
                    level: u.level,
                })
            })
            .collect();
        let records: Vec<MetadataRecord> = checked.iter().filter_map(|r| r.clone().ok()).collect();
        let mut results: Vec<Result<(), (ResponseError, String)>> =
            checked.into_iter().map(|r| r.map(|_| ())).collect();
        if !validate_only
            && results.iter().all(Result::is_ok)
            && let Err(e) = self.append_feature_levels(&records)
        {
            let failed = (ResponseError::KafkaStorageError, e.to_string());
            results = results.iter().map(|_| Err(failed.clone())).collect();
        }
        results
    }
}
