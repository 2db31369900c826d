//! The nested set model of a trace, computed once when the block is built so that structural
//! TraceQL operators (`>`, `>>`, `<`, `<<`, `~`) become integer comparisons on a row.
//!
//! A span's `nested_set_left`/`nested_set_right` enclose those of all its descendants; siblings
//! get disjoint intervals. `parent_index` is the parent's row position within the trace (0 is the
//! trace's first row), or -1 for roots.

use std::collections::HashMap;

/// The nesting columns of one trace, indexed like its rows.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Nesting {
    pub(crate) left: Vec<i32>,
    pub(crate) right: Vec<i32>,
    pub(crate) parent: Vec<i32>,
}

/// Computes the nesting of one trace's spans, given in row order (sorted by start).
///
/// Spans whose parent is not in the trace are roots (their parent may be in another block, or
/// lost). When a span ID appears twice (client and server halves sharing an ID) children attach
/// to its first row. Malformed parent cycles are broken at their first row, which becomes a root,
/// so every span is numbered exactly once.
///
/// Callers guarantee fewer than `i32::MAX / 2` spans.
pub(crate) fn nest(span_ids: &[&[u8]], parent_ids: &[&[u8]]) -> Nesting {
    let n = span_ids.len();
    let mut first_row: HashMap<&[u8], usize> = HashMap::with_capacity(n);
    for (row, id) in span_ids.iter().enumerate() {
        first_row.entry(*id).or_insert(row);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut has_parent = vec![false; n];
    for (row, parent_id) in parent_ids.iter().enumerate() {
        if parent_id.is_empty() {
            continue;
        }
        if let Some(&parent) = first_row.get(parent_id)
            && parent != row
        {
            children[parent].push(row);
            has_parent[row] = true;
        }
    }

    let mut nesting = Nesting { left: vec![0; n], right: vec![0; n], parent: vec![-1; n] };
    let mut visited = vec![false; n];
    let mut counter = 0i32;
    let roots = (0..n).filter(|row| !has_parent[*row]);
    // Rows in parent cycles are unreachable from real roots; the second pass numbers them.
    let stragglers = 0..n;
    for start in roots.chain(stragglers) {
        if visited[start] {
            continue;
        }
        visited[start] = true;
        counter += 1;
        nesting.left[start] = counter;
        // Iterative depth-first walk: (row, next child to look at).
        let mut stack = vec![(start, 0usize)];
        while let Some(top) = stack.last_mut() {
            let (row, next) = *top;
            if let Some(&child) = children[row].get(next) {
                top.1 += 1;
                if !visited[child] {
                    visited[child] = true;
                    nesting.parent[child] = row as i32;
                    counter += 1;
                    nesting.left[child] = counter;
                    stack.push((child, 0));
                }
            } else {
                counter += 1;
                nesting.right[row] = counter;
                stack.pop();
            }
        }
    }
    nesting
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ids(list: &[u8]) -> Vec<Vec<u8>> {
        list.iter().map(|i| if *i == 0 { Vec::new() } else { vec![*i; 8] }).collect()
    }

    fn run(spans: &[u8], parents: &[u8]) -> Nesting {
        let spans = ids(spans);
        let parents = ids(parents);
        let spans: Vec<&[u8]> = spans.iter().map(Vec::as_slice).collect();
        let parents: Vec<&[u8]> = parents.iter().map(Vec::as_slice).collect();
        nest(&spans, &parents)
    }

    #[test]
    fn a_tree_gets_enclosing_intervals() {
        // 1 ─┬─ 2 ── 4
        //    └─ 3
        let nesting = run(&[1, 2, 3, 4], &[0, 1, 1, 2]);
        assert_eq!(nesting.left, vec![1, 2, 6, 3]);
        assert_eq!(nesting.right, vec![8, 5, 7, 4]);
        assert_eq!(nesting.parent, vec![-1, 0, 0, 1]);
    }

    #[test]
    fn missing_parents_make_roots_and_cycles_are_broken() {
        // 2's parent (9) is not in the trace; 3 and 4 point at each other.
        let nesting = run(&[1, 2, 3, 4], &[0, 9, 4, 3]);
        assert_eq!(nesting.parent, vec![-1, -1, -1, 2]);
        assert_eq!((nesting.left[0], nesting.right[0]), (1, 2));
        assert_eq!((nesting.left[1], nesting.right[1]), (3, 4));
        assert_eq!((nesting.left[2], nesting.right[2]), (5, 8));
        assert_eq!((nesting.left[3], nesting.right[3]), (6, 7));
    }

    #[test]
    fn shared_span_ids_do_not_parent_themselves() {
        // A client and a server half share ID 2; the server half names the client half as parent.
        let nesting = run(&[1, 2, 2], &[0, 1, 2]);
        assert_eq!(nesting.parent, vec![-1, 0, 1]);
        assert!(nesting.left[1] < nesting.left[2] && nesting.right[2] < nesting.right[1]);
    }
}
