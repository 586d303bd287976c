//! ApiVersions (key 18): what this broker speaks, including the KIP-511 fallback.

use super::{APIS, Handled, Reply, Request};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseKind};

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
    // Features stay empty (their defaults), so no tagged fields are emitted: librdkafka 2.0
    // (Debian's kcat) rejects a v3 response that carries default-valued tagged fields.
    let body = ApiVersionsResponse::default().with_api_keys(api_keys());
    Handled::Now(Reply::response(ResponseKind::ApiVersions(body), version))
}
