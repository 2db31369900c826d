//! The ingester's service: the distributor's pushes and the querier's reads of recent data.

use std::sync::Arc;

use async_trait::async_trait;
use strand_common::ServiceError;
use strand_model::{
    FoundTrace, IngesterQuerier, PushRequest, PushResponse, Pusher, SearchRequest, TagValuesRequest, TagValuesResponse,
    TagsRequest, TagsResponse, TenantId, TimeRange, TraceId,
};
use strand_proto::strandpb as pb;
use strand_proto::strandpb::ingester_client::IngesterClient as GrpcClient;
use strand_proto::strandpb::ingester_server::{Ingester, IngesterServer};
use strand_proto::tempopb::SearchResponse;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::channel::GrpcClientConfig;
use crate::convert;
use crate::peer::Peer;
use crate::status::to_status;

/// The health service name an ingester reports `SERVING` under while it takes pushes.
pub const INGESTER_SERVICE: &str = "strandpb.Ingester";

/// The health service name an ingester reports `SERVING` under while it answers reads: from
/// the start of its WAL replay (before it takes pushes) until it stops, flushes included.
pub const INGESTER_READS: &str = "strandpb.Ingester.reads";

/// Calls one ingester. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct IngesterClient {
    peer: Peer,
}

impl IngesterClient {
    /// A client for the ingester at `address` (`host:port`); connects on first use.
    pub fn new(address: &str, config: &GrpcClientConfig) -> IngesterClient {
        IngesterClient { peer: Peer::new(address, config) }
    }

    /// The address this client calls.
    pub fn address(&self) -> &str {
        self.peer.address()
    }

    /// Whether the ingester takes pushes: its health check answers `SERVING`.
    pub async fn is_serving(&self) -> bool {
        self.peer.is_serving(INGESTER_SERVICE).await
    }

    /// Whether the ingester answers reads, which it also does while replaying its WAL.
    pub async fn is_readable(&self) -> bool {
        self.peer.is_serving(INGESTER_READS).await
    }

    fn grpc(&self) -> Result<GrpcClient<Channel>, ServiceError> {
        let size = self.peer.max_message_size;
        Ok(GrpcClient::new(self.peer.channel()?).max_decoding_message_size(size).max_encoding_message_size(size))
    }

    fn failed(&self, status: &Status) -> ServiceError {
        self.peer.failed(status)
    }
}

#[async_trait]
impl Pusher for IngesterClient {
    async fn push(&self, tenant: &TenantId, request: PushRequest) -> Result<PushResponse, ServiceError> {
        let request = convert::push_to_wire(tenant, request);
        let response = self.grpc()?.push(request).await.map_err(|s| self.failed(&s))?;
        Ok(convert::push_response_from_wire(response.into_inner()))
    }
}

#[async_trait]
impl IngesterQuerier for IngesterClient {
    async fn find_trace_by_id(&self, tenant: &TenantId, id: TraceId) -> Result<Option<FoundTrace>, ServiceError> {
        let request = convert::trace_request(tenant, id, TimeRange::default());
        let response = self.grpc()?.find_trace_by_id(request).await.map_err(|s| self.failed(&s))?;
        Ok(convert::found_from_wire(response.into_inner()))
    }

    async fn search_recent(&self, tenant: &TenantId, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        let request = convert::search_to_wire(tenant, request);
        let response = self.grpc()?.search_recent(request).await.map_err(|s| self.failed(&s))?;
        Ok(response.into_inner())
    }

    async fn search_tags(&self, tenant: &TenantId, request: &TagsRequest) -> Result<TagsResponse, ServiceError> {
        let request = convert::tags_to_wire(tenant, request);
        let response = self.grpc()?.search_tags(request).await.map_err(|s| self.failed(&s))?;
        convert::tags_response_from_wire(response.into_inner())
    }

    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &TagValuesRequest,
    ) -> Result<TagValuesResponse, ServiceError> {
        let request = convert::tag_values_to_wire(tenant, request);
        let response = self.grpc()?.search_tag_values(request).await.map_err(|s| self.failed(&s))?;
        Ok(convert::tag_values_response_from_wire(response.into_inner()))
    }
}

/// Serves an ingester's pushes and reads over gRPC.
pub struct IngesterService {
    pusher: Arc<dyn Pusher>,
    querier: Arc<dyn IngesterQuerier>,
}

/// The gRPC server for an ingester, taking messages up to `max_recv` bytes and sending up to `max_send`.
pub fn ingester_server(
    pusher: Arc<dyn Pusher>,
    querier: Arc<dyn IngesterQuerier>,
    max_recv: usize,
    max_send: usize,
) -> IngesterServer<IngesterService> {
    IngesterServer::new(IngesterService { pusher, querier })
        .max_decoding_message_size(max_recv)
        .max_encoding_message_size(max_send)
}

#[async_trait]
impl Ingester for IngesterService {
    async fn push(&self, request: Request<pb::PushRequest>) -> Result<Response<pb::PushResponse>, Status> {
        let (tenant, push) = convert::push_from_wire(request.into_inner()).map_err(to_status)?;
        let response = self.pusher.push(&tenant, push).await.map_err(to_status)?;
        Ok(Response::new(convert::push_response_to_wire(response)))
    }

    async fn find_trace_by_id(
        &self,
        request: Request<pb::TraceByIdRequest>,
    ) -> Result<Response<pb::TraceByIdResponse>, Status> {
        let (tenant, id, _) = convert::trace_request_from_wire(request.get_ref()).map_err(to_status)?;
        let found = self.querier.find_trace_by_id(&tenant, id).await.map_err(to_status)?;
        Ok(Response::new(convert::found_to_wire(found)))
    }

    async fn search_recent(&self, request: Request<pb::SearchRequest>) -> Result<Response<SearchResponse>, Status> {
        let (tenant, search) = convert::search_from_wire(request.into_inner()).map_err(to_status)?;
        let response = self.querier.search_recent(&tenant, &search).await.map_err(to_status)?;
        Ok(Response::new(response))
    }

    async fn search_tags(&self, request: Request<pb::TagsRequest>) -> Result<Response<pb::TagsResponse>, Status> {
        let (tenant, tags) = convert::tags_from_wire(request.into_inner()).map_err(to_status)?;
        let response = self.querier.search_tags(&tenant, &tags).await.map_err(to_status)?;
        Ok(Response::new(convert::tags_response_to_wire(response)))
    }

    async fn search_tag_values(
        &self,
        request: Request<pb::TagValuesRequest>,
    ) -> Result<Response<pb::TagValuesResponse>, Status> {
        let (tenant, values) = convert::tag_values_from_wire(request.into_inner()).map_err(to_status)?;
        let response = self.querier.search_tag_values(&tenant, &values).await.map_err(to_status)?;
        Ok(Response::new(convert::tag_values_response_to_wire(response)))
    }
}
