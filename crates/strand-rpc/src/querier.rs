//! The querier's service: the query-frontend's trace lookups, search jobs and tag queries.

use std::sync::Arc;

use async_trait::async_trait;
use strand_common::ServiceError;
use strand_model::{
    BlockSlice, FoundTrace, SearchQuerier, SearchRequest, TagValuesRequest, TagValuesResponse, TagsRequest,
    TagsResponse, TenantId, TimeRange, TraceByIdQuerier, TraceId,
};
use strand_proto::strandpb as pb;
use strand_proto::strandpb::querier_client::QuerierClient as GrpcClient;
use strand_proto::strandpb::querier_server::{Querier, QuerierServer};
use strand_proto::tempopb::SearchResponse;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::channel::GrpcClientConfig;
use crate::convert;
use crate::peer::Peer;
use crate::status::to_status;

/// The health service name a querier reports `SERVING` under while it takes jobs.
pub const QUERIER_SERVICE: &str = "strandpb.Querier";

/// Calls one querier. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct QuerierClient {
    peer: Peer,
}

impl QuerierClient {
    /// A client for the querier at `address` (`host:port`); connects on first use.
    pub fn new(address: &str, config: &GrpcClientConfig) -> QuerierClient {
        QuerierClient { peer: Peer::new(address, config) }
    }

    /// The address this client calls.
    pub fn address(&self) -> &str {
        self.peer.address()
    }

    /// Whether the querier answers its health check with `SERVING`.
    pub async fn is_serving(&self) -> bool {
        self.peer.is_serving(QUERIER_SERVICE).await
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
impl TraceByIdQuerier for QuerierClient {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<FoundTrace>, ServiceError> {
        let request = convert::trace_request(tenant, id, range);
        let response = self.grpc()?.trace_by_id(request).await.map_err(|s| self.failed(&s))?;
        Ok(convert::found_from_wire(response.into_inner()))
    }
}

#[async_trait]
impl SearchQuerier for QuerierClient {
    async fn search_recent(&self, tenant: &TenantId, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        let request = convert::search_to_wire(tenant, request);
        let response = self.grpc()?.search_recent(request).await.map_err(|s| self.failed(&s))?;
        Ok(response.into_inner())
    }

    async fn search_block(
        &self,
        tenant: &TenantId,
        request: &SearchRequest,
        slice: &BlockSlice,
    ) -> Result<SearchResponse, ServiceError> {
        let request = convert::slice_to_wire(tenant, request, slice);
        let response = self.grpc()?.search_block(request).await.map_err(|s| self.failed(&s))?;
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

/// Serves a querier's lookups and jobs over gRPC.
pub struct QuerierService {
    traces: Arc<dyn TraceByIdQuerier>,
    search: Arc<dyn SearchQuerier>,
}

/// The gRPC server for a querier, taking messages up to `max_recv` bytes and sending up to `max_send`.
pub fn querier_server(
    traces: Arc<dyn TraceByIdQuerier>,
    search: Arc<dyn SearchQuerier>,
    max_recv: usize,
    max_send: usize,
) -> QuerierServer<QuerierService> {
    QuerierServer::new(QuerierService { traces, search })
        .max_decoding_message_size(max_recv)
        .max_encoding_message_size(max_send)
}

#[async_trait]
impl Querier for QuerierService {
    async fn trace_by_id(
        &self,
        request: Request<pb::TraceByIdRequest>,
    ) -> Result<Response<pb::TraceByIdResponse>, Status> {
        let (tenant, id, range) = convert::trace_request_from_wire(request.get_ref()).map_err(to_status)?;
        let found = self.traces.trace_by_id(&tenant, id, range).await.map_err(to_status)?;
        Ok(Response::new(convert::found_to_wire(found)))
    }

    async fn search_recent(&self, request: Request<pb::SearchRequest>) -> Result<Response<SearchResponse>, Status> {
        let (tenant, search) = convert::search_from_wire(request.into_inner()).map_err(to_status)?;
        let response = self.search.search_recent(&tenant, &search).await.map_err(to_status)?;
        Ok(Response::new(response))
    }

    async fn search_block(&self, request: Request<pb::SearchBlockRequest>) -> Result<Response<SearchResponse>, Status> {
        let (tenant, search, slice) = convert::slice_from_wire(request.into_inner()).map_err(to_status)?;
        let response = self.search.search_block(&tenant, &search, &slice).await.map_err(to_status)?;
        Ok(Response::new(response))
    }

    async fn search_tags(&self, request: Request<pb::TagsRequest>) -> Result<Response<pb::TagsResponse>, Status> {
        let (tenant, tags) = convert::tags_from_wire(request.into_inner()).map_err(to_status)?;
        let response = self.search.search_tags(&tenant, &tags).await.map_err(to_status)?;
        Ok(Response::new(convert::tags_response_to_wire(response)))
    }

    async fn search_tag_values(
        &self,
        request: Request<pb::TagValuesRequest>,
    ) -> Result<Response<pb::TagValuesResponse>, Status> {
        let (tenant, values) = convert::tag_values_from_wire(request.into_inner()).map_err(to_status)?;
        let response = self.search.search_tag_values(&tenant, &values).await.map_err(to_status)?;
        Ok(Response::new(convert::tag_values_response_to_wire(response)))
    }
}
