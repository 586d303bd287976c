//! Answers for APIs the broker knows but does not implement.
//!
//! Clients only send what ApiVersions advertised, but some probe anyway. Where the response
//! has a top-level error code, answer UNSUPPORTED_VERSION in it so the client gets a clear,
//! parseable error; otherwise the only safe answer is to close the connection, as Kafka does.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;

macro_rules! with_top_level_error {
    ($key:expr, $code:expr, $($variant:ident => $response:ident),* $(,)?) => {
        match $key {
            $(ApiKey::$variant => Some(ResponseKind::$variant($response::default().with_error_code($code))),)*
            _ => None,
        }
    };
}

/// A default response for `api_key` with UNSUPPORTED_VERSION as its top-level error, if the
/// response type has one.
pub fn unsupported_response(api_key: ApiKey) -> Option<ResponseKind> {
    let code = ResponseError::UnsupportedVersion.code();
    with_top_level_error!(api_key, code,
        SaslHandshake => SaslHandshakeResponse,
        SaslAuthenticate => SaslAuthenticateResponse,
        FindCoordinator => FindCoordinatorResponse,
        JoinGroup => JoinGroupResponse,
        SyncGroup => SyncGroupResponse,
        Heartbeat => HeartbeatResponse,
        LeaveGroup => LeaveGroupResponse,
        ListGroups => ListGroupsResponse,
        OffsetFetch => OffsetFetchResponse,
        OffsetDelete => OffsetDeleteResponse,
        ConsumerGroupHeartbeat => ConsumerGroupHeartbeatResponse,
        ShareGroupHeartbeat => ShareGroupHeartbeatResponse,
        AddOffsetsToTxn => AddOffsetsToTxnResponse,
        EndTxn => EndTxnResponse,
        DescribeAcls => DescribeAclsResponse,
        CreateDelegationToken => CreateDelegationTokenResponse,
        RenewDelegationToken => RenewDelegationTokenResponse,
        ExpireDelegationToken => ExpireDelegationTokenResponse,
        DescribeDelegationToken => DescribeDelegationTokenResponse,
        DescribeUserScramCredentials => DescribeUserScramCredentialsResponse,
        AllocateProducerIds => AllocateProducerIdsResponse,
        GetTelemetrySubscriptions => GetTelemetrySubscriptionsResponse,
        PushTelemetry => PushTelemetryResponse,
    )
}
