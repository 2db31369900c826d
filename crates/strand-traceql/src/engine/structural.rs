//! Structural spanset operators (`>`, `>>`, `<`, `<<`, `~` and their `!` and `&` forms) over
//! nested set numbers.
//!
//! Each span carries `nested_set_left`/`right` (a descendant's bounds lie strictly inside its
//! ancestor's) and `nested_set_parent` (the parent's left bound, -1 for roots), so relations
//! are decided without the rest of the trace. A 0 means "unknown" and never relates, as in
//! Tempo. Every relation runs in O((l + r) log l) rather than comparing all pairs, so
//! `{ } >> { }` on a trace of many spans stays cheap.

use std::collections::{HashMap, HashSet};

use crate::ast::SpansetOp;
use crate::data::Span;

/// The relation an operator tests, read as "the right-hand span is the ... of a left-hand span".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relation {
    Child,
    Parent,
    Descendant,
    Ancestor,
    Sibling,
}

impl Relation {
    /// The same pair seen from the other side.
    fn inverse(self) -> Relation {
        match self {
            Relation::Child => Relation::Parent,
            Relation::Parent => Relation::Child,
            Relation::Descendant => Relation::Ancestor,
            Relation::Ancestor => Relation::Descendant,
            Relation::Sibling => Relation::Sibling,
        }
    }
}

/// How an operator turns a relation into a result.
enum Form {
    /// Right-hand spans with a related left-hand span.
    Plain,
    /// Right-hand spans without one.
    Negated,
    /// Spans of either side that have a related span on the other side.
    Union,
}

fn classify(op: SpansetOp) -> Option<(Relation, Form)> {
    use Relation as R;
    Some(match op {
        SpansetOp::Child => (R::Child, Form::Plain),
        SpansetOp::Parent => (R::Parent, Form::Plain),
        SpansetOp::Descendant => (R::Descendant, Form::Plain),
        SpansetOp::Ancestor => (R::Ancestor, Form::Plain),
        SpansetOp::Sibling => (R::Sibling, Form::Plain),
        SpansetOp::NotChild => (R::Child, Form::Negated),
        SpansetOp::NotParent => (R::Parent, Form::Negated),
        SpansetOp::NotDescendant => (R::Descendant, Form::Negated),
        SpansetOp::NotAncestor => (R::Ancestor, Form::Negated),
        SpansetOp::NotSibling => (R::Sibling, Form::Negated),
        SpansetOp::UnionChild => (R::Child, Form::Union),
        SpansetOp::UnionParent => (R::Parent, Form::Union),
        SpansetOp::UnionDescendant => (R::Descendant, Form::Union),
        SpansetOp::UnionAncestor => (R::Ancestor, Form::Union),
        SpansetOp::UnionSibling => (R::Sibling, Form::Union),
        SpansetOp::And | SpansetOp::Union => return None,
    })
}

/// The result of structural `op` between the spans at indexes `lhs` and `rhs` of `spans`, as
/// sorted indexes. Both inputs are sorted and free of duplicates. Empty for `&&` and `||`.
pub(crate) fn relate(op: SpansetOp, lhs: &[usize], rhs: &[usize], spans: &[Span]) -> Vec<usize> {
    let Some((relation, form)) = classify(op) else { return Vec::new() };
    match form {
        Form::Plain => matching(relation, lhs, rhs, spans, true),
        Form::Negated => matching(relation, lhs, rhs, spans, false),
        Form::Union => {
            let right = matching(relation, lhs, rhs, spans, true);
            let left = matching(relation.inverse(), rhs, lhs, spans, true);
            merge(&left, &right)
        }
    }
}

/// Whether the right-hand span at an index has a related left-hand span.
type HasMatch = Box<dyn Fn(usize, &Span) -> bool>;

/// The `rhs` spans for which "has a related `lhs` span" equals `wanted`.
fn matching(relation: Relation, lhs: &[usize], rhs: &[usize], spans: &[Span], wanted: bool) -> Vec<usize> {
    let get = |i: &usize| spans.get(*i);
    let lefts = lhs.iter().filter_map(get);
    let has_match: HasMatch = match relation {
        Relation::Child => {
            // r's parent is some l.
            let set: HashSet<i32> = lefts.map(|l| l.nested_set_left).filter(|&left| left != 0).collect();
            Box::new(move |_, r| r.nested_set_parent != 0 && set.contains(&r.nested_set_parent))
        }
        Relation::Parent => {
            // r is the parent of some l.
            let set: HashSet<i32> = lefts.map(|l| l.nested_set_parent).filter(|&parent| parent != 0).collect();
            Box::new(move |_, r| r.nested_set_left != 0 && set.contains(&r.nested_set_left))
        }
        Relation::Descendant => {
            // Some l encloses r: among the l that start before r, the furthest end passes r's.
            let bounds = Bounds::new(lefts);
            Box::new(move |_, r| known(r) && bounds.max_right_before(r.nested_set_left) > Some(r.nested_set_right))
        }
        Relation::Ancestor => {
            // r encloses some l: among the l that start after r, the nearest end precedes r's.
            let bounds = Bounds::new(lefts);
            Box::new(move |_, r| {
                known(r) && bounds.min_right_after(r.nested_set_left).is_some_and(|end| end < r.nested_set_right)
            })
        }
        Relation::Sibling => {
            // Some other l has r's parent: per parent, how many l and one of them.
            let mut parents: HashMap<i32, (usize, usize)> = HashMap::new();
            for &i in lhs {
                if let Some(l) = spans.get(i).filter(|l| l.nested_set_parent != 0) {
                    parents.entry(l.nested_set_parent).or_insert((0, i)).0 += 1;
                }
            }
            Box::new(move |i, r| {
                r.nested_set_parent != 0
                    && parents.get(&r.nested_set_parent).is_some_and(|&(count, one)| count > 1 || one != i)
            })
        }
    };
    rhs.iter().copied().filter(|&i| spans.get(i).is_some_and(|r| has_match(i, r) == wanted)).collect()
}

fn known(span: &Span) -> bool {
    span.nested_set_left != 0 && span.nested_set_right != 0
}

/// Left-hand spans with known bounds, sorted by left bound, with running extremes of the right
/// bound from each end.
struct Bounds {
    lefts: Vec<i32>,
    /// `prefix_max[i]`: the largest right bound among the first `i + 1`.
    prefix_max: Vec<i32>,
    /// `suffix_min[i]`: the smallest right bound from `i` on.
    suffix_min: Vec<i32>,
}

impl Bounds {
    fn new<'a>(spans: impl Iterator<Item = &'a Span>) -> Bounds {
        let mut pairs: Vec<(i32, i32)> =
            spans.filter(|s| known(s)).map(|s| (s.nested_set_left, s.nested_set_right)).collect();
        pairs.sort_unstable();
        let lefts = pairs.iter().map(|p| p.0).collect();
        let prefix_max = pairs
            .iter()
            .scan(i32::MIN, |max, p| {
                *max = (*max).max(p.1);
                Some(*max)
            })
            .collect();
        let mut suffix_min: Vec<i32> = pairs
            .iter()
            .rev()
            .scan(i32::MAX, |min, p| {
                *min = (*min).min(p.1);
                Some(*min)
            })
            .collect();
        suffix_min.reverse();
        Bounds { lefts, prefix_max, suffix_min }
    }

    fn max_right_before(&self, left: i32) -> Option<i32> {
        let count = self.lefts.partition_point(|&l| l < left);
        count.checked_sub(1).and_then(|last| self.prefix_max.get(last)).copied()
    }

    fn min_right_after(&self, left: i32) -> Option<i32> {
        let first = self.lefts.partition_point(|&l| l <= left);
        self.suffix_min.get(first).copied()
    }
}

/// The sorted union of two sorted, duplicate-free index lists.
pub(crate) fn merge(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
        if x <= y {
            out.push(x);
            i += 1;
            j += usize::from(x == y);
        } else {
            out.push(y);
            j += 1;
        }
    }
    out.extend(a.get(i..).unwrap_or_default());
    out.extend(b.get(j..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(parent, left, right)`, as Tempo's mock spans take them.
    fn spans(nesting: &[(i32, i32, i32)]) -> Vec<Span> {
        nesting
            .iter()
            .map(|&(parent, left, right)| Span {
                nested_set_parent: parent,
                nested_set_left: left,
                nested_set_right: right,
                ..Span::default()
            })
            .collect()
    }

    #[test]
    fn merge_keeps_order_and_drops_duplicates() {
        assert_eq!(merge(&[1, 3, 5], &[2, 3, 6, 7]), vec![1, 2, 3, 5, 6, 7]);
        assert_eq!(merge(&[], &[2]), vec![2]);
        assert_eq!(merge(&[4], &[]), vec![4]);
    }

    /// A root (1..10) with children a (2..5, holding c 3..4) and b (6..9, holding d 7..8).
    fn tree() -> Vec<Span> {
        spans(&[(-1, 1, 10), (1, 2, 5), (2, 3, 4), (1, 6, 9), (6, 7, 8)])
    }

    #[test]
    fn every_relation_against_brute_force() {
        let spans = tree();
        let all: Vec<usize> = (0..spans.len()).collect();
        let related = |rel: Relation, l: &Span, r: &Span, same: bool| match rel {
            Relation::Child => l.nested_set_left == r.nested_set_parent,
            Relation::Parent => r.nested_set_left == l.nested_set_parent,
            Relation::Descendant => l.nested_set_left < r.nested_set_left && r.nested_set_right < l.nested_set_right,
            Relation::Ancestor => r.nested_set_left < l.nested_set_left && l.nested_set_right < r.nested_set_right,
            Relation::Sibling => l.nested_set_parent == r.nested_set_parent && !same,
        };
        for relation in [Relation::Child, Relation::Parent, Relation::Descendant, Relation::Ancestor, Relation::Sibling]
        {
            for mask_l in 0u32..32 {
                for mask_r in 0u32..32 {
                    let pick = |mask: u32| all.iter().copied().filter(|i| mask & (1 << i) != 0).collect::<Vec<_>>();
                    let (lhs, rhs) = (pick(mask_l), pick(mask_r));
                    let expected: Vec<usize> = rhs
                        .iter()
                        .copied()
                        .filter(|&r| lhs.iter().any(|&l| related(relation, &spans[l], &spans[r], l == r)))
                        .collect();
                    assert_eq!(matching(relation, &lhs, &rhs, &spans, true), expected, "{relation:?} {lhs:?} {rhs:?}");
                }
            }
        }
    }

    #[test]
    fn operators_on_a_tree() {
        let spans = tree();
        let all: Vec<usize> = (0..spans.len()).collect();
        let run = |op, lhs: &[usize], rhs: &[usize]| relate(op, lhs, rhs, &spans);
        assert_eq!(run(SpansetOp::Child, &[0], &all), vec![1, 3]);
        assert_eq!(run(SpansetOp::Descendant, &[1], &all), vec![2]);
        assert_eq!(run(SpansetOp::Parent, &[2, 4], &all), vec![1, 3]);
        assert_eq!(run(SpansetOp::Ancestor, &[4], &all), vec![0, 3]);
        assert_eq!(run(SpansetOp::Sibling, &[1], &all), vec![3]);
        // Leaves: spans that are not the parent of any span.
        assert_eq!(run(SpansetOp::NotParent, &all, &all), vec![2, 4]);
        assert_eq!(run(SpansetOp::NotChild, &all, &all), vec![0]);
        assert_eq!(run(SpansetOp::NotDescendant, &[1], &all), vec![0, 1, 3, 4]);
        assert_eq!(run(SpansetOp::NotAncestor, &[2], &all), vec![2, 3, 4]);
        assert_eq!(run(SpansetOp::NotSibling, &[1], &[1, 2, 3]), vec![1, 2]);
        assert_eq!(run(SpansetOp::UnionChild, &[1], &all), vec![1, 2]);
        assert_eq!(run(SpansetOp::UnionParent, &[2], &all), vec![1, 2]);
        assert_eq!(run(SpansetOp::UnionDescendant, &[3], &[2, 4]), vec![3, 4]);
        assert_eq!(run(SpansetOp::UnionAncestor, &[4], &all), vec![0, 3, 4]);
        assert_eq!(run(SpansetOp::UnionSibling, &[1, 2], &[3, 4]), vec![1, 3]);
        assert!(run(SpansetOp::And, &all, &all).is_empty());
    }

    #[test]
    fn unknown_nesting_never_relates() {
        let spans = spans(&[(0, 0, 0), (0, 0, 0), (0, 1, 4), (1, 2, 3)]);
        let all: Vec<usize> = (0..spans.len()).collect();
        assert_eq!(relate(SpansetOp::Child, &all, &all, &spans), vec![3]);
        assert_eq!(relate(SpansetOp::Sibling, &all, &all, &spans), Vec::<usize>::new());
        assert_eq!(relate(SpansetOp::Descendant, &all, &all, &spans), vec![3]);
        assert_eq!(relate(SpansetOp::NotChild, &all, &all, &spans), vec![0, 1, 2]);
    }
}
