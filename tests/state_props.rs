//! Properties of cursors and state merges (proptest).

use intake::state::{Boundary, CursorOrder, CursorState, CursorTracker, Observed};
use intake::{Cursor, CursorKind, Record, State, StreamDescriptor};
use proptest::prelude::*;
use serde_json::{Value, json};

fn pk() -> Vec<Vec<String>> {
    vec![vec!["id".into()]]
}

fn rec(id: u32, at: i64) -> Record {
    Record::from_value(&json!({"id": id, "at": at})).unwrap()
}

fn number_cursor() -> Cursor {
    Cursor::new("at").kind(CursorKind::Number)
}

fn as_i64(v: &Option<Value>) -> Option<i64> {
    v.as_ref().and_then(Value::as_i64)
}

proptest! {
    /// Whatever records arrive, and whatever the saved state, the checkpointed cursor never
    /// goes below the saved one and never decreases between checkpoints.
    #[test]
    fn the_cursor_never_goes_backwards(
        saved in proptest::option::of(0i64..100),
        records in proptest::collection::vec((0u32..40, 0i64..120), 0..60),
        checkpoint_every in 1usize..10,
        ascending in any::<bool>(),
    ) {
        let start = CursorState { cursor: saved.map(|s| json!(s)), ..Default::default() };
        let order = if ascending { CursorOrder::Ascending } else { CursorOrder::Unordered };
        let mut t = CursorTracker::new(number_cursor().order(order), pk(), &start);
        let mut last = saved;
        for (i, (id, at)) in records.iter().enumerate() {
            t.observe(&rec(*id, *at)).unwrap();
            if i % checkpoint_every == 0 {
                let now = as_i64(&t.checkpoint(false, None).cursor);
                prop_assert!(now >= last, "{now:?} < {last:?}");
                last = now;
            }
        }
        let end = as_i64(&t.checkpoint(true, None).cursor);
        prop_assert!(end >= last);
        let max = records.iter().map(|(_, at)| *at).max();
        prop_assert_eq!(end, saved.max(max).or(saved));
    }

    /// An API with an inclusive `at >= cursor` filter, read repeatedly while records are added
    /// (many sharing an instant): every record is delivered exactly once overall.
    #[test]
    fn inclusive_boundaries_deliver_each_record_once(
        batches in proptest::collection::vec(proptest::collection::vec(0i64..6, 0..15), 1..6),
    ) {
        let mut table: Vec<(u32, i64)> = Vec::new();
        let mut state = CursorState::default();
        let mut delivered: Vec<u32> = Vec::new();
        let mut clock = 0i64;
        for batch in batches {
            for step in batch {
                // Cursors never go back in time at the source; ties are common.
                clock += step / 3;
                table.push((table.len() as u32, clock));
            }
            let cursor = number_cursor();
            let mut t = CursorTracker::new(cursor.clone(), pk(), &state);
            let start = t.pass_start().and_then(Value::as_i64);
            for (id, at) in table.iter().filter(|(_, at)| start.is_none_or(|s| *at >= s)) {
                if t.observe(&rec(*id, *at)).unwrap() == Observed::Keep {
                    delivered.push(*id);
                }
            }
            state = t.checkpoint(true, None);
        }
        let mut sorted = delivered.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(sorted.len(), delivered.len(), "duplicates: {:?}", delivered);
        prop_assert_eq!(sorted.len(), table.len(), "lost records");
    }

    /// Merging states is commutative, associative and idempotent: acknowledgements applied in
    /// any order give one result.
    #[test]
    fn merging_checkpoints_is_order_independent(
        states in proptest::collection::vec((proptest::option::of(0i64..10), proptest::collection::vec(0u32..5, 0..3)), 3..4),
    ) {
        let cursor = number_cursor().boundary(Boundary::Inclusive);
        let s: Vec<CursorState> = states.iter().map(|(c, keys)| CursorState {
            cursor: c.map(|c| json!(c)),
            boundary_keys: keys.iter().map(|k| json!([k])).collect(),
            ..Default::default()
        }).collect();
        let norm = |mut x: CursorState| { x.boundary_keys.sort_by_key(|k| k.to_string()); x.boundary_keys.dedup(); x };
        prop_assert_eq!(s[0].merge(&s[1], &cursor), s[1].merge(&s[0], &cursor));
        prop_assert_eq!(
            s[0].merge(&s[1], &cursor).merge(&s[2], &cursor),
            s[0].merge(&s[1].merge(&s[2], &cursor), &cursor)
        );
        prop_assert_eq!(s[0].merge(&s[0], &cursor), norm(s[0].clone()));
        let merged = s[0].merge(&s[1], &cursor);
        prop_assert_eq!(as_i64(&merged.cursor), as_i64(&s[0].cursor).max(as_i64(&s[1].cursor)));
    }

    /// A state file round-trips exactly, and acknowledging different streams' checkpoints in
    /// any order gives the same state.
    #[test]
    fn state_round_trips_and_stream_updates_commute(
        blobs in proptest::collection::vec(("[a-z]{1,6}", any::<i64>(), "[ -~]{0,8}"), 1..6),
    ) {
        let mut a = State::new();
        let mut b = State::new();
        let updates: Vec<(StreamDescriptor, Value)> = blobs.iter().map(|(name, n, s)| {
            (StreamDescriptor::new(name.clone()), json!({"cursor": n, "extra": {"s": s}}))
        }).collect();
        // Keep the last update per stream, as acknowledgements of one stream arrive in order.
        let mut last = std::collections::BTreeMap::new();
        for (d, v) in &updates { last.insert(d.clone(), v.clone()); }
        for (d, v) in &last { a.set_stream(d.clone(), v.clone()); }
        for (d, v) in last.iter().rev() { b.set_stream(d.clone(), v.clone()); }
        prop_assert_eq!(&a, &b);
        let parsed = State::parse(&a.to_json()).unwrap();
        prop_assert_eq!(&parsed, &a);
    }

    /// No input makes state parsing panic: it is a state or a config error.
    #[test]
    fn state_parsing_never_panics(text in ".{0,64}") {
        if let Err(e) = State::parse(&text) {
            prop_assert!(e.is_config());
        }
    }
}
