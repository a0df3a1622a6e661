//! Map helpers for the projections' folds, which run once per event.

use std::collections::BTreeMap;

/// `map[key]`, inserting `make()` first when it is missing. Unlike
/// `entry(key.clone())`, the key is cloned only when it is inserted: a fold
/// looks up the same few panes and senders millions of times.
pub(crate) fn get_or_insert<'a, K: Ord + Clone, V>(
    map: &'a mut BTreeMap<K, V>,
    key: &K,
    make: impl FnOnce() -> V,
) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.clone(), make());
    }
    match map.get_mut(key) {
        Some(v) => v,
        None => unreachable!("the key was inserted just above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_once_then_finds() {
        let mut m: BTreeMap<String, u32> = BTreeMap::new();
        *get_or_insert(&mut m, &"a".to_owned(), || 1) += 1;
        *get_or_insert(&mut m, &"a".to_owned(), || 100) += 1;
        assert_eq!(m["a"], 3);
    }
}
