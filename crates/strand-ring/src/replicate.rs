//! The quorum write: the distributor hands every trace of a push to its replicas, one call
//! per member, and answers the client once each trace is on a majority of them.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::ring::{Member, Ring, write_quorum};

/// What [`replicate`] needs to know about a failed call.
pub trait ReplicaError: fmt::Display {
    /// Whether the member failed (unreachable, down, overloaded, timed out) rather than the
    /// request (bad input, a limit). Only member failures mark the member unhealthy and move
    /// its items to the next member: a bad request would fail on every member alike, and must
    /// not take healthy members out of the ring.
    fn is_member_failure(&self) -> bool;
}

/// Errors between roles: a member that is down, shutting down or overloaded answers
/// `Unavailable` (transport failures and deadlines map to it too); anything else is about the
/// request, and would fail the same on every member.
impl ReplicaError for strand_common::ServiceError {
    fn is_member_failure(&self) -> bool {
        self.code == strand_common::ErrorCode::Unavailable
    }
}

/// One successful call: the member that stored the items and what it answered.
#[derive(Debug)]
pub struct Replied<R> {
    /// The member's ID.
    pub member: String,
    /// Indices into the `keys` given to [`replicate`] that this call covered.
    pub items: Vec<usize>,
    /// The member's response.
    pub response: R,
}

/// Some item cannot reach its write quorum.
#[derive(Debug)]
pub struct ReplicateError<E> {
    /// Items that could not reach quorum when replication gave up.
    pub failed_items: usize,
    /// The last call error seen for one of those items; `None` when no call was even made for
    /// it because the ring had too few healthy members.
    pub error: Option<E>,
}

impl<E: fmt::Display> fmt::Display for ReplicateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} item(s) could not reach write quorum: ", self.failed_items)?;
        match &self.error {
            Some(error) => write!(f, "{error}"),
            None => f.write_str("not enough healthy members in the ring"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ReplicateError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.as_ref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Sends items to their replicas, batching per member, and returns once every item is on a
/// write quorum of them.
///
/// Item `i` lives at ring key `keys[i]`; its replicas are `ring.replication_set(keys[i], rf)`.
/// `call(member, indices)` runs once per member with every item index that member should
/// store, concurrently across members. An item succeeds once `write_quorum(min(rf, ring.len()))`
/// replicas acknowledged it: the quorum counts the members of the ring, not the healthy ones,
/// so a dead member does not quietly lower durability.
///
/// When a call fails with a member failure ([`ReplicaError::is_member_failure`]), the member
/// is marked unhealthy (later requests skip it until a probe sees it alive) and that call's
/// items go to the next healthy member of each item's preference list not yet tried for it,
/// batched per member again, so killing one ingester does not fail pushes while enough others
/// live. Any other error counts as one failed replica, without a retry. An item is never sent
/// twice to the same member.
///
/// Returns as soon as every item has its quorum, or as soon as some item cannot reach it any
/// more. Calls still in flight then keep running on the Tokio runtime (as Tempo's distributor
/// does with a background context) so slow replicas still get their copy; `call` must bound
/// its own duration, e.g. with a gRPC deadline.
pub async fn replicate<C, R, E, F, Fut>(
    ring: &Ring<C>,
    keys: &[u32],
    rf: usize,
    call: F,
) -> Result<Vec<Replied<R>>, ReplicateError<E>>
where
    C: Send + Sync + 'static,
    R: Send + 'static,
    E: ReplicaError + Send + 'static,
    F: Fn(Arc<Member<C>>, Vec<usize>) -> Fut,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (mut state, initial) = Replication::plan(ring, keys, rf);
    if state.unplaced > 0 {
        // Nothing sent: a partial write would only be retried whole by the client.
        return Err(ReplicateError { failed_items: state.unplaced, error: None });
    }

    let mut pending = FuturesUnordered::new();
    let mut replies = Vec::new();
    pending.extend(calls(ring, initial, &call));
    while let Some(outcome) = pending.next().await {
        let Outcome { member, items, result } = outcome;
        match result {
            Ok(response) => {
                state.acknowledged(&items);
                replies.push(Replied { member: member.id().to_string(), items, response });
                if state.waiting == 0 {
                    finish_in_background(pending);
                    return Ok(replies);
                }
            }
            Err(error) => {
                let retries = state.failed(&member, &items, error);
                if let Some(failure) = state.take_failure() {
                    finish_in_background(pending);
                    return Err(failure);
                }
                pending.extend(calls(ring, retries, &call));
            }
        }
    }
    // Unreachable in practice: an item with nothing in flight and no quorum fails above.
    Err(ReplicateError { failed_items: state.waiting, error: None })
}

/// Per-item bookkeeping of one [`replicate`] call.
struct Replication<'a, C, E> {
    ring: &'a Ring<C>,
    keys: &'a [u32],
    quorum: usize,
    items: Vec<ItemState>,
    /// Items below quorum.
    waiting: usize,
    /// Items whose initial replication set was smaller than the quorum.
    unplaced: usize,
    /// Call errors, shared by the items of the failed call; taken when reported.
    errors: Vec<Option<E>>,
    /// Items that can no longer reach quorum, and the error of the latest of them.
    dead: usize,
    dead_error: Option<usize>,
}

#[derive(Default)]
struct ItemState {
    acks: usize,
    in_flight: usize,
    /// Members the item was sent to, in order. Short: rf plus the odd extension.
    tried: Vec<usize>,
}

impl<'a, C, E: ReplicaError> Replication<'a, C, E> {
    /// Chooses each item's replicas; also returns the item indices per member index, for the
    /// first round of calls.
    fn plan(ring: &'a Ring<C>, keys: &'a [u32], rf: usize) -> (Self, Vec<Vec<usize>>) {
        let replicas = rf.max(1).min(ring.len());
        let quorum = write_quorum(replicas);
        let mut initial = vec![Vec::new(); ring.len()];
        let mut unplaced = 0;
        let items: Vec<ItemState> = keys
            .iter()
            .enumerate()
            .map(|(item, &key)| {
                let tried: Vec<usize> = ring
                    .preference_indices(key)
                    .filter(|&m| ring.member_at(m).is_some_and(|m| m.is_healthy()))
                    .take(replicas)
                    .collect();
                for &member in &tried {
                    initial[member].push(item);
                }
                if tried.len() < quorum {
                    unplaced += 1;
                }
                ItemState { acks: 0, in_flight: tried.len(), tried }
            })
            .collect();
        let state = Replication {
            ring,
            keys,
            quorum,
            waiting: items.len(),
            items,
            unplaced,
            errors: Vec::new(),
            dead: 0,
            dead_error: None,
        };
        (state, initial)
    }

    fn acknowledged(&mut self, items: &[usize]) {
        for &item in items {
            if let Some(state) = self.items.get_mut(item) {
                state.in_flight -= 1;
                state.acks += 1;
                if state.acks == self.quorum {
                    self.waiting -= 1;
                }
            }
        }
    }

    /// Records a failed call and returns the retries to send, per member index.
    fn failed(&mut self, member: &Member<C>, items: &[usize], error: E) -> Vec<Vec<usize>> {
        let member_failure = error.is_member_failure();
        if member_failure && member.set_healthy(false) {
            tracing::warn!(member = member.id(), %error, "replica call failed, marking member unhealthy");
        }
        let error_index = self.errors.len();
        self.errors.push(Some(error));
        let mut retries = vec![Vec::new(); self.ring.len()];
        for &item in items {
            let (Some(state), Some(&key)) = (self.items.get_mut(item), self.keys.get(item)) else { continue };
            state.in_flight -= 1;
            // Always extend, even past quorum: the item should end on as many members as if
            // this one had been known down when the replication set was chosen.
            let next = member_failure
                .then(|| {
                    self.ring
                        .preference_indices(key)
                        .find(|m| !state.tried.contains(m) && self.ring.member_at(*m).is_some_and(|m| m.is_healthy()))
                })
                .flatten();
            if let Some(next) = next {
                state.tried.push(next);
                state.in_flight += 1;
                retries[next].push(item);
            } else if state.acks + state.in_flight < self.quorum {
                self.dead += 1;
                self.dead_error = Some(error_index);
            }
        }
        retries
    }

    fn take_failure(&mut self) -> Option<ReplicateError<E>> {
        if self.dead == 0 {
            return None;
        }
        let error = self.dead_error.and_then(|i| self.errors.get_mut(i)).and_then(Option::take);
        Some(ReplicateError { failed_items: self.dead, error })
    }
}

/// A finished call, with what is needed to account for it.
struct Outcome<C, R, E> {
    member: Arc<Member<C>>,
    items: Vec<usize>,
    result: Result<R, E>,
}

/// One call per member with a non-empty batch. The futures borrow nothing, so the calls
/// can outlive [`replicate`].
fn calls<C, R, E, Fut>(
    ring: &Ring<C>,
    batches: Vec<Vec<usize>>,
    call: &dyn Fn(Arc<Member<C>>, Vec<usize>) -> Fut,
) -> Vec<impl Future<Output = Outcome<C, R, E>> + use<C, R, E, Fut>>
where
    Fut: Future<Output = Result<R, E>>,
{
    let mut started = Vec::new();
    for (index, items) in batches.into_iter().enumerate() {
        if items.is_empty() {
            continue;
        }
        let Some(member) = ring.member_at(index) else { continue };
        let future = call(Arc::clone(member), items.clone());
        started.push(tag(Arc::clone(member), items, future));
    }
    started
}

/// Pairs a call with its member and items, so its outcome can be accounted for.
async fn tag<C, R, E, Fut>(member: Arc<Member<C>>, items: Vec<usize>, future: Fut) -> Outcome<C, R, E>
where
    Fut: Future<Output = Result<R, E>>,
{
    Outcome { member, items, result: future.await }
}

/// Lets the calls still in flight finish after [`replicate`] returned, so replicas beyond the
/// quorum still get their copy; a member failing there is still marked unhealthy. Without a
/// Tokio runtime (not a case strand has) the calls are dropped.
fn finish_in_background<C, R, E, T>(pending: FuturesUnordered<T>)
where
    C: Send + Sync + 'static,
    R: Send + 'static,
    E: ReplicaError + Send + 'static,
    T: Future<Output = Outcome<C, R, E>> + Send + 'static,
{
    if pending.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(pending.for_each(|outcome| {
        if let Err(error) = &outcome.result
            && error.is_member_failure()
            && outcome.member.set_healthy(false)
        {
            tracing::warn!(member = outcome.member.id(), %error, "replica call failed, marking member unhealthy");
        }
        futures::future::ready(())
    }));
}

#[cfg(test)]
#[path = "replicate_tests.rs"]
mod tests;
