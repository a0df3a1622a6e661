//! Detecting when a pane's content changes, shared by the projections.

use orc_log_schemas::Target;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Each pane's latest captured content, with its capture time (UTC ns).
/// Comparing the text itself is cheaper than hashing it (a capture is a few
/// KiB) and costs one capture per pane.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContentTracker {
    last: BTreeMap<Target, (i64, String)>,
}

impl ContentTracker {
    /// Records a capture taken at `ts_ns`; true when the content differs
    /// from the pane's latest capture (or it is the pane's first). A capture
    /// older than the latest one (back-dated, e.g. imported) is no change and
    /// does not replace it: the pane's content now is the newest capture's.
    pub(crate) fn changed(&mut self, target: &Target, content: &str, ts_ns: i64) -> bool {
        match self.last.get_mut(target) {
            Some((latest, _)) if ts_ns < *latest => false,
            Some((latest, prev)) => {
                *latest = ts_ns;
                if same(prev, content) {
                    return false;
                }
                prev.clear();
                prev.push_str(content);
                true
            }
            None => {
                self.last.insert(target.clone(), (ts_ns, content.to_owned()));
                true
            }
        }
    }
}

/// Whether two captures are equal, looking at their ends first: a pane's
/// next capture usually differs in its last lines (new output, the prompt),
/// so most changes are found without comparing the whole screen.
fn same(a: &str, b: &str) -> bool {
    const TAIL: usize = 128;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a[a.len().saturating_sub(TAIL)..] == b[b.len().saturating_sub(TAIL)..] && a == b
}

#[cfg(test)]
mod tests {
    use super::{ContentTracker, same};

    #[test]
    fn an_older_capture_is_no_change_and_keeps_the_latest_content() {
        let mut c = ContentTracker::default();
        let t = "p:1.0".parse().unwrap();
        assert!(c.changed(&t, "new", 20));
        assert!(!c.changed(&t, "old", 10), "back-dated");
        assert!(!c.changed(&t, "new", 30), "the latest content is still the newest capture's");
        assert!(c.changed(&t, "newer", 30));
    }

    #[test]
    fn same_compares_whole_captures() {
        let a = "line\n".repeat(100);
        assert!(same(&a, &a.clone()));
        let mut top = a.clone();
        top.replace_range(0..1, "L");
        assert!(!same(&a, &top), "a change in the first line, beyond the compared tail");
        let mut bottom = a.clone();
        bottom.push('x');
        assert!(!same(&a, &bottom));
        assert!(same("", ""));
        assert!(!same("ab", "ac"));
    }
}
