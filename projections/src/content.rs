//! Detecting when a pane's content changes, shared by the projections.

use orc_log_schemas::Target;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Each pane's latest captured content, with its capture time (UTC ns).
/// Comparing the text itself is cheaper than hashing it (a capture is a few
/// KiB) and costs one capture per pane in memory. A checkpoint holds only
/// each screen's BLAKE3 hash (64 hex digits instead of a screen of text:
/// the checkpoints of a 160-pane team went from about 2 MB to a few hundred
/// KB); after a load, the next capture of a pane is compared by hash, and
/// from then on by text again.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContentTracker {
    last: BTreeMap<Target, (i64, Screen)>,
}

/// A pane's latest screen: its text, or (loaded from a checkpoint) its hash.
#[derive(Debug, Clone)]
enum Screen {
    Text(String),
    Hash(blake3::Hash),
}

impl Screen {
    fn hash(&self) -> blake3::Hash {
        match self {
            Screen::Text(text) => blake3::hash(text.as_bytes()),
            Screen::Hash(h) => *h,
        }
    }

    /// Whether `content` is this screen.
    fn is(&self, content: &str) -> bool {
        match self {
            Screen::Text(text) => same(text, content),
            Screen::Hash(h) => blake3::hash(content.as_bytes()) == *h,
        }
    }
}

/// The same screen, whether held as text or as a hash.
impl PartialEq for Screen {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Screen::Text(a), Screen::Text(b)) => a == b,
            _ => self.hash() == other.hash(),
        }
    }
}

impl Eq for Screen {}

impl Serialize for Screen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.hash().to_hex().as_str())
    }
}

impl<'de> Deserialize<'de> for Screen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        blake3::Hash::from_hex(hex.as_bytes()).map(Screen::Hash).map_err(serde::de::Error::custom)
    }
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
                let changed = !prev.is(content);
                match prev {
                    Screen::Text(text) if changed => {
                        text.clear();
                        text.push_str(content);
                    }
                    Screen::Text(_) => {}
                    // Compared by hash once after a load; by text from now on.
                    Screen::Hash(_) => *prev = Screen::Text(content.to_owned()),
                }
                changed
            }
            None => {
                self.last.insert(target.clone(), (ts_ns, Screen::Text(content.to_owned())));
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
    fn a_loaded_tracker_holds_hashes_and_judges_changes_alike() {
        let mut c = ContentTracker::default();
        let t = "p:1.0".parse().unwrap();
        let screen = "$ make\n".repeat(500);
        assert!(c.changed(&t, &screen, 10));
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.len() < 200, "a hash, not the screen: {json}");
        let mut loaded: ContentTracker = serde_json::from_str(&json).unwrap();
        assert_eq!(loaded, c, "a screen equals its hash");
        assert!(!loaded.changed(&t, &screen, 20), "the same screen, compared by hash");
        assert!(!loaded.changed(&t, &screen, 30), "then by text");
        assert!(loaded.changed(&t, "other", 40));
        assert!(c.changed(&t, "other", 40));
        assert_eq!(loaded, c);
        let mut loaded: ContentTracker = serde_json::from_str(&json).unwrap();
        assert!(loaded.changed(&t, "other", 20), "a change, compared by hash");
        assert_ne!(loaded, serde_json::from_str::<ContentTracker>(&json).unwrap());
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
