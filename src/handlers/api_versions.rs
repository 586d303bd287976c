//! ApiVersions (key 18): what this broker speaks, including the KIP-511 fallback.

use super::{APIS, Handled, Reply, Request};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

/// The feature clients read to choose their transaction protocol (KIP-890).
const TRANSACTION_VERSION: &str = "transaction.version";
/// Kafka 4.4 finalizes transaction version 2 on a new cluster, and so does Strom: clients
/// that know it add partitions implicitly and bump the epoch at every EndTxn.
const FINALIZED_TRANSACTION_VERSION: i16 = 2;
/// The finalized features never change while the broker runs; clients only need an epoch
/// newer than their initial -1.
const FINALIZED_FEATURES_EPOCH: i64 = 0;

fn api_keys() -> Vec<ApiVersion> {
    APIS.iter()
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(api.min_version)
                .with_max_version(api.max_version)
        })
        .collect()
}

/// Answers ApiVersions. A version newer than we know gets UNSUPPORTED_VERSION encoded at v0
/// with our ranges (KIP-511), so the client can retry with a version we share.
pub fn handle(req: &Request) -> Handled {
    let version = req.header.request_api_version;
    if !(0..=4).contains(&version) {
        let body = ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(api_keys());
        return Handled::respond(ResponseKind::ApiVersions(body), 0);
    }
    let request: ApiVersionsRequest = match super::decode(req) {
        Ok(r) => r,
        Err(_) => {
            let body = ApiVersionsResponse::default()
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_api_keys(api_keys());
            return Handled::respond(ResponseKind::ApiVersions(body), 0);
        }
    };
    let _ = request;
    let body = ApiVersionsResponse::default()
        .with_api_keys(api_keys())
        .with_supported_features(vec![
            SupportedFeatureKey::default()
                .with_name(StrBytes::from_static_str(TRANSACTION_VERSION))
                .with_min_version(0)
                .with_max_version(FINALIZED_TRANSACTION_VERSION),
        ])
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(vec![
            FinalizedFeatureKey::default()
                .with_name(StrBytes::from_static_str(TRANSACTION_VERSION))
                .with_min_version_level(FINALIZED_TRANSACTION_VERSION)
                .with_max_version_level(FINALIZED_TRANSACTION_VERSION),
        ]);
    Handled::Now(Reply::response(ResponseKind::ApiVersions(body), version))
}
