//! Finding "the earliest unfired schedule for a pane (with the same note
//! when given)", shared by the projections, without scanning every schedule
//! ever made: a fold over a day of a busy team sees ~100k schedules, and a
//! scan per `schedule_fired` made replay quadratic.

use orc_log_schemas::Target;
use std::collections::{HashMap, VecDeque};

/// Positions (in the projection's schedule list) of the unfired schedules
/// of each pane, in log order. Derived data: not part of a checkpoint (it is
/// rebuilt from the list on first use after a load) and never compared.
#[derive(Debug, Default, Clone)]
pub(crate) struct Unfired {
    by_target: Option<HashMap<Target, VecDeque<usize>>>,
}

impl PartialEq for Unfired {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Unfired {}

impl Unfired {
    /// Records schedule `index` of `target` (the list's newest).
    pub(crate) fn push(&mut self, target: &Target, index: usize) {
        if let Some(map) = &mut self.by_target {
            map.entry(target.clone()).or_default().push_back(index);
        }
    }

    /// Takes the earliest unfired schedule of `target` for which `matches`
    /// holds. `list` gives every schedule as (target, fired), to build the
    /// index on first use.
    pub(crate) fn take<'a>(
        &mut self,
        target: &Target,
        list: impl Iterator<Item = (&'a Target, bool)>,
        matches: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let map = self.by_target.get_or_insert_with(|| {
            let mut map: HashMap<Target, VecDeque<usize>> = HashMap::new();
            for (i, (t, fired)) in list.enumerate() {
                if !fired {
                    map.entry(t.clone()).or_default().push_back(i);
                }
            }
            map
        });
        let queue = map.get_mut(target)?;
        let at = queue.iter().position(|i| matches(*i))?;
        queue.remove(at)
    }
}
