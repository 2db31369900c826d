//! One immutable snapshot of the ring: who the members are and which tokens each owns.
//! Only health changes in place, so a request that took a snapshot sees members go down as
//! soon as anyone notices.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::hash::member_tokens;

/// A ring member: an ingester (or compactor, querier…) and the client that reaches it.
pub struct Member<C> {
    id: String,
    client: C,
    healthy: AtomicBool,
    /// Health probes failed in a row; `u32::MAX` until the first probe.
    failed_probes: AtomicU32,
}

impl<C> Member<C> {
    /// A member, healthy until a probe or a failed call says otherwise.
    pub fn new(id: impl Into<String>, client: C) -> Member<C> {
        Member { id: id.into(), client, healthy: AtomicBool::new(true), failed_probes: AtomicU32::new(u32::MAX) }
    }

    /// The member's ID: its address as listed or resolved. Its tokens derive from it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client that reaches the member.
    pub fn client(&self) -> &C {
        &self.client
    }

    /// Whether the member last answered its health probe and no call has failed since.
    pub fn is_healthy(&self) -> bool {
        // Relaxed: health is advisory; nothing else is published through this flag.
        self.healthy.load(Ordering::Relaxed)
    }

    /// Sets the member's health and returns what it was, so callers log only transitions.
    pub fn set_healthy(&self, healthy: bool) -> bool {
        self.healthy.swap(healthy, Ordering::Relaxed)
    }

    /// Records a health probe's outcome and returns the health before it. A passed probe makes
    /// the member healthy; a failed one makes it unhealthy only once `failures` probes in a row
    /// failed, so one slow answer from a busy member does not take it out of the ring. The
    /// first probe of a member decides its health outright.
    pub(crate) fn record_probe(&self, passed: bool, failures: u32) -> bool {
        let before = self.failed_probes.load(Ordering::Relaxed);
        let in_a_row = match (passed, before) {
            (true, _) => 0,
            (false, u32::MAX) => failures,
            (false, n) => n.saturating_add(1),
        };
        self.failed_probes.store(in_a_row, Ordering::Relaxed);
        // A member a failed call took out stays out until a probe passes.
        let healthy = passed || (in_a_row < failures.max(1) && self.is_healthy());
        self.set_healthy(healthy)
    }
}

impl<C> fmt::Debug for Member<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member").field("id", &self.id).field("healthy", &self.is_healthy()).finish()
    }
}

/// Writes that must succeed out of `n` replicas: a majority, `n / 2 + 1` as in Tempo
/// (1 of 1, 2 of 2, 2 of 3), so any two quorums overlap in at least one replica.
pub fn write_quorum(n: usize) -> usize {
    n / 2 + 1
}

/// A consistent-hash ring snapshot.
pub struct Ring<C> {
    /// Sorted by ID, without duplicates.
    members: Vec<Arc<Member<C>>>,
    /// `(token, index into members)`, sorted by token. Ties between members (a 1 in 2^32
    /// chance per pair of tokens) are broken by member index, hence by ID: still deterministic.
    tokens: Vec<(u32, usize)>,
}

impl<C> Ring<C> {
    /// Builds the ring. Members are ordered by ID and a repeated ID is kept once; each member
    /// gets `tokens_per_member` tokens (at least one, so every member owns some keys).
    pub fn new(mut members: Vec<Arc<Member<C>>>, tokens_per_member: u32) -> Ring<C> {
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members.dedup_by(|a, b| a.id == b.id);
        let mut tokens: Vec<(u32, usize)> = members
            .iter()
            .enumerate()
            .flat_map(|(index, member)| {
                member_tokens(&member.id, tokens_per_member.max(1)).into_iter().map(move |token| (token, index))
            })
            .collect();
        tokens.sort_unstable();
        Ring { members, tokens }
    }

    /// Every member, ordered by ID.
    pub fn members(&self) -> &[Arc<Member<C>>] {
        &self.members
    }

    /// The member with this ID.
    pub fn member(&self, id: &str) -> Option<&Arc<Member<C>>> {
        self.members.binary_search_by(|m| m.id.as_str().cmp(id)).ok().and_then(|i| self.members.get(i))
    }

    /// The members that are healthy right now.
    pub fn healthy_members(&self) -> Vec<Arc<Member<C>>> {
        self.members.iter().filter(|m| m.is_healthy()).cloned().collect()
    }

    /// Number of members, healthy or not.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the ring has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every member once, clockwise from the first token at or after `key` (wrapping),
    /// healthy or not. Lazy, so callers that need the first few stop early.
    pub fn preference(&self, key: u32) -> impl Iterator<Item = &Arc<Member<C>>> + '_ {
        self.preference_indices(key).filter_map(|i| self.members.get(i))
    }

    /// [`Ring::preference`], collected.
    pub fn preference_list(&self, key: u32) -> Vec<Arc<Member<C>>> {
        self.preference(key).cloned().collect()
    }

    /// The first `rf` healthy members of the preference list: the replicas of `key`. Fewer
    /// when the ring has fewer healthy members.
    pub fn replication_set(&self, key: u32, rf: usize) -> Vec<Arc<Member<C>>> {
        self.preference(key).filter(|m| m.is_healthy()).take(rf).cloned().collect()
    }

    /// The first healthy member of the preference list: who owns `key` when exactly one
    /// process must act on it (a compactor and its (tenant, window)).
    pub fn owner(&self, key: u32) -> Option<Arc<Member<C>>> {
        self.preference(key).find(|m| m.is_healthy()).cloned()
    }

    /// Member indices in preference order; the index form lets the replicator keep per-member
    /// state in plain vectors.
    pub(crate) fn preference_indices(&self, key: u32) -> PreferenceIndices<'_> {
        let start = self.tokens.partition_point(|&(token, _)| token < key);
        PreferenceIndices {
            tokens: &self.tokens,
            start,
            step: 0,
            remaining: self.members.len(),
            seen: Seen::with_capacity(self.members.len()),
        }
    }

    pub(crate) fn member_at(&self, index: usize) -> Option<&Arc<Member<C>>> {
        self.members.get(index)
    }
}

impl<C> fmt::Debug for Ring<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring").field("members", &self.members).field("tokens", &self.tokens.len()).finish()
    }
}

/// Walks the tokens clockwise and yields each member index the first time it appears.
pub(crate) struct PreferenceIndices<'a> {
    tokens: &'a [(u32, usize)],
    start: usize,
    step: usize,
    remaining: usize,
    seen: Seen,
}

impl Iterator for PreferenceIndices<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.remaining > 0 && self.step < self.tokens.len() {
            let position = (self.start + self.step) % self.tokens.len();
            self.step += 1;
            let (_, member) = self.tokens[position];
            if self.seen.insert(member) {
                self.remaining -= 1;
                return Some(member);
            }
        }
        None
    }
}

/// The members already yielded. Rings rarely exceed 128 members, and then it costs no
/// allocation: `replication_set` runs once per pushed trace.
enum Seen {
    Inline(u128),
    Spilled(Vec<bool>),
}

impl Seen {
    fn with_capacity(members: usize) -> Seen {
        if members <= 128 { Seen::Inline(0) } else { Seen::Spilled(vec![false; members]) }
    }

    /// Records `member`; false if it was already there.
    fn insert(&mut self, member: usize) -> bool {
        match self {
            Seen::Inline(bits) => {
                let bit = 1u128 << member;
                let fresh = *bits & bit == 0;
                *bits |= bit;
                fresh
            }
            Seen::Spilled(seen) => match seen.get_mut(member) {
                Some(slot) => !std::mem::replace(slot, true),
                None => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::hash::ring_hash;

    fn ring(n: usize) -> Ring<()> {
        let members = (0..n).map(|i| Arc::new(Member::new(format!("ingester-{i}:9095"), ()))).collect();
        Ring::new(members, 128)
    }

    fn ids(members: &[Arc<Member<()>>]) -> Vec<&str> {
        members.iter().map(|m| m.id()).collect()
    }

    /// Deterministic pseudo-random keys (splitmix64), so a failure reproduces.
    fn keys(n: usize) -> impl Iterator<Item = u32> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        (0..n).map(move |_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u32
        })
    }

    #[test]
    fn keys_spread_evenly_over_three_members_and_replicas_are_distinct() {
        let ring = ring(3);
        let mut primaries = [0usize; 3];
        for key in keys(100_000) {
            let set = ring.replication_set(key, 3);
            assert_eq!(set.len(), 3);
            let distinct: HashSet<&str> = set.iter().map(|m| m.id()).collect();
            assert_eq!(distinct.len(), 3, "replicas of {key} repeat a member");
            let primary = ring.members().iter().position(|m| Arc::ptr_eq(m, &set[0])).unwrap();
            primaries[primary] += 1;
        }
        for (i, owned) in primaries.iter().enumerate() {
            let share = *owned as f64 / 100_000.0;
            assert!((0.20..=0.47).contains(&share), "member {i} is primary for {share:.3} of keys");
        }
    }

    #[test]
    fn unhealthy_members_are_skipped_in_replication_sets_and_ownership() {
        let ring = ring(5);
        let key = ring_hash(b"some trace");
        let preference = ring.preference_list(key);
        assert_eq!(ids(&ring.replication_set(key, 2)), ids(&preference[..2]));
        assert_eq!(ring.owner(key).unwrap().id(), preference[0].id());

        preference[0].set_healthy(false);
        preference[2].set_healthy(false);
        let expected = [preference[1].id(), preference[3].id(), preference[4].id()];
        assert_eq!(ids(&ring.replication_set(key, 3)), expected);
        assert_eq!(ring.owner(key).unwrap().id(), preference[1].id());
        // Asking for more replicas than there are healthy members gives what there is.
        assert_eq!(ring.replication_set(key, 5).len(), 3);
        assert_eq!(ring.healthy_members().len(), 3);

        for member in ring.members() {
            member.set_healthy(false);
        }
        assert!(ring.replication_set(key, 3).is_empty());
        assert!(ring.owner(key).is_none());
        // The preference list ignores health.
        assert_eq!(ring.preference_list(key).len(), 5);
    }

    #[test]
    fn removing_a_member_moves_only_the_keys_it_owned() {
        let before = ring(4);
        let removed = "ingester-2:9095";
        let kept: Vec<_> = before.members().iter().filter(|m| m.id() != removed).cloned().collect();
        let after = Ring::new(kept, 128);
        let mut moved = 0;
        for key in keys(20_000) {
            let old = before.owner(key).unwrap();
            let new = after.owner(key).unwrap();
            if old.id() == removed {
                moved += 1;
                // It goes to the next member of its old preference list.
                assert_eq!(new.id(), before.preference_list(key)[1].id());
            } else {
                assert_eq!(old.id(), new.id(), "key {key} moved although its owner stayed");
            }
        }
        assert!(moved > 0);
    }

    #[test]
    fn an_empty_ring_places_nothing() {
        let ring = ring(0);
        assert!(ring.is_empty());
        assert!(ring.preference_list(42).is_empty());
        assert!(ring.replication_set(42, 3).is_empty());
        assert!(ring.owner(42).is_none());
    }

    #[test]
    fn repeated_ids_are_kept_once_and_members_are_sorted() {
        let members = ["b:1", "a:1", "b:1"].map(|id| Arc::new(Member::new(id, ()))).to_vec();
        let ring = Ring::new(members, 4);
        assert_eq!(ids(ring.members()), ["a:1", "b:1"]);
        assert_eq!(ring.member("b:1").unwrap().id(), "b:1");
        assert!(ring.member("c:1").is_none());
    }

    #[test]
    fn rings_larger_than_the_inline_seen_set_still_list_every_member_once() {
        let ring = ring(200);
        let list = ring.preference_list(7);
        let distinct: HashSet<&str> = list.iter().map(|m| m.id()).collect();
        assert_eq!((list.len(), distinct.len()), (200, 200));
    }

    #[test]
    fn write_quorum_is_a_majority() {
        let quorums: Vec<usize> = (1..=5).map(write_quorum).collect();
        assert_eq!(quorums, [1, 2, 2, 3, 3]);
    }

    proptest! {
        #[test]
        fn replication_set_is_the_healthy_prefix_of_the_preference_list(
            members in 1usize..12,
            unhealthy in proptest::collection::vec(any::<bool>(), 12),
            key in any::<u32>(),
            rf in 1usize..5,
        ) {
            let ring = ring(members);
            for (member, down) in ring.members().iter().zip(&unhealthy) {
                member.set_healthy(!down);
            }
            let preference = ring.preference_list(key);
            let distinct: HashSet<&str> = preference.iter().map(|m| m.id()).collect();
            prop_assert_eq!(distinct.len(), members);
            let healthy: Vec<&str> = preference.iter().filter(|m| m.is_healthy()).map(|m| m.id()).collect();
            let set = ring.replication_set(key, rf);
            prop_assert_eq!(ids(&set), healthy.iter().take(rf).copied().collect::<Vec<_>>());
            prop_assert_eq!(ring.owner(key).map(|m| m.id().to_string()), healthy.first().map(|s| s.to_string()));
        }
    }
}
