//! The JSON generators the parsers' property tests share: scalars of every
//! type, and trees of them under a module's own keys, so each test says only
//! what is particular to its parser (its keys, its odd strings).

use proptest::prelude::*;
use serde_json::{Value, json};

/// A JSON scalar of any type, huge numbers and non-finite floats included.
pub fn scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
    ]
    .boxed()
}

/// Arrays and objects of `leaf`, up to `depth` levels and `width` entries,
/// with object keys drawn from the `keys` regex (the names the parser looks
/// for, and others).
pub fn tree(
    leaf: impl Strategy<Value = Value> + 'static,
    keys: &'static str,
    depth: u32,
    width: usize,
) -> BoxedStrategy<Value> {
    leaf.prop_recursive(depth, 48, width as u32, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..width).prop_map(Value::from),
            proptest::collection::btree_map(keys, inner, 0..width)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}
