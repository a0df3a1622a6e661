//! Detecting when a pane's content changes, shared by the projections.

use orc_log_schemas::Target;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The blake3 hash of each pane's last capture.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContentTracker {
    last: BTreeMap<Target, String>,
}

impl ContentTracker {
    /// Records a capture; true when the content differs from the pane's
    /// previous capture (or it is the pane's first).
    pub(crate) fn changed(&mut self, target: &Target, content: &str) -> bool {
        let hash = blake3::hash(content.as_bytes()).to_hex().to_string();
        match self.last.get(target) {
            Some(prev) if *prev == hash => false,
            _ => {
                self.last.insert(target.clone(), hash);
                true
            }
        }
    }
}
