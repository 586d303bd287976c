//! InitProducerId (key 22): producer ids for idempotent producers.

use super::{BrokerState, Handled, Request, decode_or_close};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind,
};
use std::sync::Arc;
use tracing::error;

pub fn init_producer_id(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: InitProducerIdRequest = decode_or_close!(req);
    let failed = |code: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    let body = if request
        .transactional_id
        .as_ref()
        .is_some_and(|t| t.is_empty())
    {
        // Kafka's transaction coordinator rejects an empty transactional id.
        failed(ResponseError::InvalidRequest)
    } else if request.transactional_id.is_some() {
        // Transactions need the transaction coordinator, which is not part of this broker yet.
        failed(ResponseError::CoordinatorNotAvailable)
    } else {
        // Like Kafka, an idempotent producer always gets a fresh id at epoch 0, also when it
        // asks to bump the epoch of the id it had (KIP-360).
        match state.producer_ids.next_id() {
            Ok(id) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0),
            Err(e) => {
                error!("Failed to allocate a producer id: {e}");
                failed(ResponseError::KafkaStorageError)
            }
        }
    };
    Handled::respond(ResponseKind::InitProducerId(body), version)
}
