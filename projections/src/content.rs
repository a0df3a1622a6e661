//! Detecting when a pane's content changes, shared by the projections.

use orc_log_schemas::Target;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Each pane's last captured content. Comparing the text itself is cheaper
/// than hashing it (a capture is a few KiB) and costs one capture per pane.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContentTracker {
    last: BTreeMap<Target, String>,
}

impl ContentTracker {
    /// Records a capture; true when the content differs from the pane's
    /// previous capture (or it is the pane's first).
    pub(crate) fn changed(&mut self, target: &Target, content: &str) -> bool {
        match self.last.get_mut(target) {
            Some(prev) if same(prev, content) => false,
            Some(prev) => {
                prev.clear();
                prev.push_str(content);
                true
            }
            None => {
                self.last.insert(target.clone(), content.to_owned());
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
    use super::same;

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
