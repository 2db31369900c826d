//! Asking every ingester at once, and deciding when missing answers still leave a whole answer.

use std::future::Future;
use std::sync::Arc;

use strand_common::ServiceError;
use strand_model::{IngesterQuerier, IngesterSource};

/// Runs `ask` against every current ingester concurrently and returns the answers that came
/// back. Fails only when more ingesters failed than the source tolerates: with replication,
/// every acknowledged trace is on several ingesters, so a few failed answers lose nothing.
pub(crate) async fn ask_all<T, F, Fut>(source: &dyn IngesterSource, ask: F) -> Result<Vec<T>, ServiceError>
where
    F: Fn(Arc<dyn IngesterQuerier>) -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    let ingesters = source.ingesters();
    let results = futures::future::join_all(ingesters.into_iter().map(ask)).await;
    let mut answers = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(answer) => answers.push(answer),
            Err(err) => failures.push(err),
        }
    }
    if failures.len() > source.tolerated_failures() {
        // The first error decides the code, so a bad request stays a 400.
        let first = failures.swap_remove(0);
        return Err(ServiceError::new(first.code, format!("asking ingesters: {}", first.message)));
    }
    for err in &failures {
        tracing::warn!(error = %err, "an ingester did not answer; its replicas cover for it");
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use strand_common::ErrorCode;
    use strand_model::{
        FoundTrace, SearchRequest, TagValuesRequest, TagValuesResponse, TagsRequest, TagsResponse, TenantId, TraceId,
    };
    use strand_proto::tempopb::SearchResponse;

    struct Answers(Result<(), ServiceError>);

    #[async_trait]
    impl IngesterQuerier for Answers {
        async fn find_trace_by_id(&self, _: &TenantId, _: TraceId) -> Result<Option<FoundTrace>, ServiceError> {
            self.0.clone().map(|()| None)
        }
        async fn search_recent(&self, _: &TenantId, _: &SearchRequest) -> Result<SearchResponse, ServiceError> {
            self.0.clone().map(|()| SearchResponse::default())
        }
        async fn search_tags(&self, _: &TenantId, _: &TagsRequest) -> Result<TagsResponse, ServiceError> {
            self.0.clone().map(|()| TagsResponse::default())
        }
        async fn search_tag_values(
            &self,
            _: &TenantId,
            _: &TagValuesRequest,
        ) -> Result<TagValuesResponse, ServiceError> {
            self.0.clone().map(|()| TagValuesResponse::default())
        }
    }

    struct Source(Vec<Arc<dyn IngesterQuerier>>, usize);

    impl IngesterSource for Source {
        fn ingesters(&self) -> Vec<Arc<dyn IngesterQuerier>> {
            self.0.clone()
        }
        fn tolerated_failures(&self) -> usize {
            self.1
        }
    }

    fn source(failing: usize, healthy: usize, tolerated: usize) -> Source {
        let down =
            || Arc::new(Answers(Err(ServiceError::unavailable("connection refused")))) as Arc<dyn IngesterQuerier>;
        let up = || Arc::new(Answers(Ok(()))) as Arc<dyn IngesterQuerier>;
        Source((0..failing).map(|_| down()).chain((0..healthy).map(|_| up())).collect(), tolerated)
    }

    async fn ask(source: &Source) -> Result<usize, ServiceError> {
        let tenant = TenantId::new("t").unwrap();
        let id = TraceId::from_bytes(&[1; 16]).unwrap();
        let answers = ask_all(source, |ingester| {
            let tenant = tenant.clone();
            async move { ingester.find_trace_by_id(&tenant, id).await }
        })
        .await?;
        Ok(answers.len())
    }

    #[tokio::test]
    async fn failures_within_the_tolerance_leave_the_other_answers() {
        assert_eq!(ask(&source(1, 2, 1)).await, Ok(2));
        assert_eq!(ask(&source(0, 3, 1)).await, Ok(3));
    }

    #[tokio::test]
    async fn failures_past_the_tolerance_fail_the_request_with_their_code() {
        let err = ask(&source(2, 1, 1)).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(err.message.contains("connection refused"), "{err}");
        assert!(ask(&source(1, 0, 0)).await.is_err());
    }
}
