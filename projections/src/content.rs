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
            Some(prev) if prev == content => false,
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
