//! ApiVersions (key 18): what this broker speaks, including the KIP-511 fallback.

use super::{Handled, Reply, Request};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseKind};

/// Every API we implement with the version range we handle. Only these are advertised: a
/// client must never be told we speak something we cannot answer.
pub fn supported_api_versions() -> &'static [(ApiKey, i16, i16)] {
    &[
        (ApiKey::Produce, 3, 13),
        (ApiKey::Fetch, 4, 18),
        (ApiKey::ListOffsets, 1, 10),
        (ApiKey::Metadata, 0, 13),
        (ApiKey::ApiVersions, 0, 4),
        (ApiKey::CreateTopics, 2, 7),
        (ApiKey::DeleteTopics, 1, 6),
        (ApiKey::InitProducerId, 0, 5),
        (ApiKey::DescribeConfigs, 1, 4),
        (ApiKey::DescribeLogDirs, 1, 4),
        (ApiKey::CreatePartitions, 0, 3),
        (ApiKey::DescribeCluster, 0, 2),
        (ApiKey::OffsetCommit, 2, 9),
        (ApiKey::OffsetFetch, 1, 9),
        (ApiKey::FindCoordinator, 0, 6),
        (ApiKey::JoinGroup, 0, 9),
        (ApiKey::Heartbeat, 0, 4),
        (ApiKey::LeaveGroup, 0, 5),
        (ApiKey::SyncGroup, 0, 5),
        (ApiKey::DescribeGroups, 0, 6),
        (ApiKey::ListGroups, 0, 5),
        (ApiKey::DeleteGroups, 0, 2),
        (ApiKey::OffsetDelete, 0, 0),
        (ApiKey::ConsumerGroupHeartbeat, 0, 1),
        (ApiKey::ConsumerGroupDescribe, 0, 1),
    ]
}

fn api_keys() -> Vec<ApiVersion> {
    supported_api_versions()
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*min)
                .with_max_version(*max)
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
    // Features stay empty (their defaults), so no tagged fields are emitted: librdkafka 2.0
    // (Debian's kcat) rejects a v3 response that carries default-valued tagged fields.
    let body = ApiVersionsResponse::default().with_api_keys(api_keys());
    Handled::Now(Reply::Response {
        body: Box::new(ResponseKind::ApiVersions(body)),
        version,
    })
}
