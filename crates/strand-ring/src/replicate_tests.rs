use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::hash::ring_hash;

/// What a fake member does with a call. The member's client is its behaviour.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Store,
    Down,
    BadRequest,
    Hang,
}

#[derive(Debug, PartialEq)]
enum TestError {
    Down(String),
    BadRequest,
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl ReplicaError for TestError {
    fn is_member_failure(&self) -> bool {
        matches!(self, TestError::Down(_))
    }
}

fn ring(behaviours: &[Behaviour]) -> Ring<Behaviour> {
    let members =
        behaviours.iter().enumerate().map(|(i, b)| Arc::new(Member::new(format!("ingester-{i}:9095"), *b))).collect();
    Ring::new(members, 128)
}

fn keys(n: u32) -> Vec<u32> {
    (0..n).map(|i| ring_hash(&i.to_le_bytes())).collect()
}

type Calls = Arc<Mutex<Vec<(String, Vec<usize>)>>>;

/// A `call` that records each call and acts as the member's behaviour says.
fn fake(
    calls: &Calls,
) -> impl Fn(Arc<Member<Behaviour>>, Vec<usize>) -> futures::future::BoxFuture<'static, Result<usize, TestError>> + use<>
{
    let calls = Arc::clone(calls);
    move |member, items| {
        calls.lock().unwrap().push((member.id().to_string(), items.clone()));
        let id = member.id().to_string();
        let behaviour = *member.client();
        Box::pin(async move {
            match behaviour {
                Behaviour::Store => Ok(items.len()),
                Behaviour::Down => Err(TestError::Down(id)),
                Behaviour::BadRequest => Err(TestError::BadRequest),
                Behaviour::Hang => futures::future::pending().await,
            }
        })
    }
}

/// How many times each item was sent to each member; panics if any pair repeats.
fn sends(calls: &Calls) -> HashMap<usize, Vec<String>> {
    let mut per_item: HashMap<usize, Vec<String>> = HashMap::new();
    for (member, items) in calls.lock().unwrap().iter() {
        for &item in items {
            let members = per_item.entry(item).or_default();
            assert!(!members.contains(member), "item {item} sent twice to {member}");
            members.push(member.clone());
        }
    }
    per_item
}

fn acks(replies: &[Replied<usize>]) -> HashMap<usize, Vec<&str>> {
    let mut per_item: HashMap<usize, Vec<&str>> = HashMap::new();
    for reply in replies {
        assert_eq!(reply.response, reply.items.len());
        for &item in &reply.items {
            per_item.entry(item).or_default().push(&reply.member);
        }
    }
    per_item
}

#[tokio::test]
async fn all_healthy_items_reach_every_replica_with_one_call_per_member() {
    use Behaviour::Store;
    let ring = ring(&[Store, Store, Store, Store]);
    let keys = keys(50);
    let calls = Calls::default();
    // rf 2: the quorum is both replicas, so every acknowledgement is awaited.
    let replies = replicate(&ring, &keys, 2, fake(&calls)).await.unwrap();
    let members_called: Vec<String> = calls.lock().unwrap().iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(members_called.iter().collect::<HashSet<_>>().len(), members_called.len(), "a member called twice");
    let acked = acks(&replies);
    for (item, &key) in keys.iter().enumerate() {
        let expected: Vec<String> = ring.replication_set(key, 2).iter().map(|m| m.id().to_string()).collect();
        let mut got: Vec<&str> = acked[&item].clone();
        got.sort_unstable();
        let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(got, expected, "item {item}");
    }

    // rf 3: every item is sent to its three replicas; two acknowledgements are enough.
    let calls = Calls::default();
    let replies = replicate(&ring, &keys, 3, fake(&calls)).await.unwrap();
    assert!(sends(&calls).values().all(|members| members.len() == 3));
    assert!(acks(&replies).values().all(|members| members.len() >= 2));
    assert_eq!(acks(&replies).len(), keys.len());
}

#[tokio::test]
async fn a_failed_member_is_marked_down_and_its_items_move_to_the_next_member() {
    use Behaviour::{Down, Store};
    let ring = ring(&[Store, Down, Store, Store, Store]);
    let down = "ingester-1:9095";
    let keys = keys(200);
    let calls = Calls::default();
    let replies = replicate(&ring, &keys, 2, fake(&calls)).await.unwrap();

    assert!(!ring.member(down).unwrap().is_healthy());
    let calls_to_down = calls.lock().unwrap().iter().filter(|(m, _)| m == down).count();
    assert_eq!(calls_to_down, 1);
    let sends = sends(&calls);
    let acks = acks(&replies);
    let mut extended = 0;
    for (item, &key) in keys.iter().enumerate() {
        assert_eq!(acks[&item].len(), 2, "item {item} acknowledged by {:?}", acks[&item]);
        assert!(!acks[&item].contains(&down));
        let preference: Vec<&str> = ring.preference(key).map(|m| m.id()).collect();
        if preference[..2].contains(&down) {
            extended += 1;
            // It went to the first member after its original pair.
            assert_eq!(sends[&item].len(), 3);
            assert!(sends[&item].contains(&preference[2].to_string()), "item {item}: {:?}", sends[&item]);
        } else {
            assert_eq!(sends[&item].len(), 2);
        }
    }
    assert!(extended > 0, "no item had the failing member among its replicas");

    // The next push skips the member up front.
    let calls = Calls::default();
    replicate(&ring, &keys, 2, fake(&calls)).await.unwrap();
    assert!(calls.lock().unwrap().iter().all(|(m, _)| m != down));
}

#[tokio::test]
async fn with_nowhere_to_extend_to_items_fail_with_the_members_error() {
    use Behaviour::{Down, Store};
    let ring = ring(&[Store, Down]);
    let keys = keys(30);
    let err = replicate(&ring, &keys, 2, fake(&Calls::default())).await.unwrap_err();
    // rf 2 of 2 members: every item had the failing member in its set.
    assert_eq!(err.failed_items, 30);
    assert_eq!(err.error, Some(TestError::Down("ingester-1:9095".into())));
    assert!(err.to_string().starts_with("30 item(s) could not reach write quorum"), "{err}");
    assert!(!ring.member("ingester-1:9095").unwrap().is_healthy());
}

#[tokio::test]
async fn a_request_error_neither_marks_the_member_down_nor_moves_items() {
    use Behaviour::{BadRequest, Store};
    // rf 3 of 4: quorum 2, reached by the two members that store; nothing goes to the fourth.
    let ring = ring(&[Store, BadRequest, Store, Store]);
    let keys = keys(100);
    let calls = Calls::default();
    replicate(&ring, &keys, 3, fake(&calls)).await.unwrap();
    assert!(ring.member("ingester-1:9095").unwrap().is_healthy());
    assert!(sends(&calls).values().all(|members| members.len() == 3));

    // rf 2 of 2: the quorum needs both, so every item fails, with the request's error.
    let ring = self::ring(&[Store, BadRequest]);
    let err = replicate(&ring, &keys, 2, fake(&Calls::default())).await.unwrap_err();
    assert_eq!((err.failed_items, err.error), (100, Some(TestError::BadRequest)));
    assert!(ring.member("ingester-1:9095").unwrap().is_healthy());
}

#[tokio::test]
async fn a_hanging_replica_does_not_hold_up_the_quorum() {
    use Behaviour::{Hang, Store};
    let ring = ring(&[Store, Hang, Store]);
    let keys = keys(20);
    let calls = Calls::default();
    let replies = tokio::time::timeout(Duration::from_secs(5), replicate(&ring, &keys, 3, fake(&calls)))
        .await
        .expect("replicate waited for the hanging replica")
        .unwrap();
    assert!(acks(&replies).values().all(|members| members.len() == 2));
    // The hanging member was still asked: it gets its copy if it ever answers.
    assert!(calls.lock().unwrap().iter().any(|(m, _)| m == "ingester-1:9095"));
}

#[tokio::test]
async fn durability_counts_ring_members_not_healthy_ones() {
    use Behaviour::{Down, Store};
    // rf 3 over 3 members, one known down: the quorum stays 2 of 3, so the two left must both
    // store, and one more failure fails the push instead of keeping a single copy.
    let ring = ring(&[Store, Store, Down]);
    ring.member("ingester-0:9095").unwrap().set_healthy(false);
    let keys = keys(10);
    let err = replicate(&ring, &keys, 3, fake(&Calls::default())).await.unwrap_err();
    assert_eq!(err.failed_items, 10);

    // Two of three down: quorum is out of reach before anything is sent.
    let calls = Calls::default();
    let err = replicate(&ring, &keys, 3, fake(&calls)).await.unwrap_err();
    assert_eq!((err.failed_items, err.error), (10, None));
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn nothing_to_send_and_nowhere_to_send_it() {
    use Behaviour::Store;
    let calls = Calls::default();
    let replies = replicate(&ring(&[Store]), &[], 1, fake(&calls)).await.unwrap();
    assert!(replies.is_empty() && calls.lock().unwrap().is_empty());

    let err = replicate(&ring(&[]), &keys(3), 1, fake(&calls)).await.unwrap_err();
    assert!(err.to_string().contains("not enough healthy members"), "{err}");
    assert_eq!((err.failed_items, err.error), (3, None));
}

#[tokio::test]
async fn failures_cascade_along_the_preference_list() {
    use Behaviour::{Down, Store};
    let ring = ring(&[Down, Down, Down, Store, Store, Store]);
    let keys = keys(100);
    let calls = Calls::default();
    let replies = replicate(&ring, &keys, 2, fake(&calls)).await.unwrap();
    assert!(acks(&replies).values().all(|members| members.len() == 2));
    assert_eq!(acks(&replies).len(), keys.len());
    sends(&calls);
    assert_eq!(ring.healthy_members().len(), 3);
}

#[test]
fn only_unavailable_service_errors_are_member_failures() {
    use strand_common::{ErrorCode, ServiceError};
    assert!(ServiceError::unavailable("ingester shutting down").is_member_failure());
    assert!(!ServiceError::bad_request("bad span").is_member_failure());
    assert!(!ServiceError::new(ErrorCode::RateLimited, "live traces limit").is_member_failure());
    assert!(!ServiceError::internal("bug").is_member_failure());
}
