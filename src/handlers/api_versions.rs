//! ApiVersions (key 18): what this broker speaks, including the KIP-511 fallback.

use super::{APIS, BrokerState, ConnectionInfo, Handled, Reply, Request, served_on};
use crate::metadata::SUPPORTED_FEATURES;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// The APIs served on this connection's listener.
fn api_keys(state: &BrokerState, conn: &ConnectionInfo) -> Vec<ApiVersion> {
    APIS.iter()
        .filter(|api| served_on(state, conn, api.key))
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
pub fn handle(state: &Arc<BrokerState>, conn: &ConnectionInfo, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    if !(0..=4).contains(&version) {
        let body = ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(api_keys(state, conn));
        return Handled::respond(ResponseKind::ApiVersions(body), 0);
    }
    let request: ApiVersionsRequest = match super::decode(req) {
        Ok(r) => r,
        Err(_) => {
            let body = ApiVersionsResponse::default()
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_api_keys(api_keys(state, conn));
            return Handled::respond(ResponseKind::ApiVersions(body), 0);
        }
    };
    let _ = request;
    // Finalized levels are the metadata log's; its end offset orders their changes, as
    // Kafka's epoch (the offset of the metadata image) does.
    let (_, epoch) = state.catalog.quorum_position();
    let mut finalized = state.catalog.features();
    finalized.entry("kraft.version".into()).or_insert(0);
    let body = ApiVersionsResponse::default()
        .with_api_keys(api_keys(state, conn))
        .with_supported_features(
            SUPPORTED_FEATURES
                .iter()
                .map(|(name, min, max)| {
                    SupportedFeatureKey::default()
                        .with_name(StrBytes::from_static_str(name))
                        .with_min_version(*min)
                        .with_max_version(*max)
                })
                .collect(),
        )
        .with_finalized_features_epoch(epoch)
        .with_finalized_features(
            finalized
                .into_iter()
                .map(|(name, level)| {
                    FinalizedFeatureKey::default()
                        .with_name(StrBytes::from_string(name))
                        .with_min_version_level(level)
                        .with_max_version_level(level)
                })
                .collect(),
        );
    Handled::Now(Reply::response(ResponseKind::ApiVersions(body), version))
}
