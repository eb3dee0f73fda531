//! The versions of each Rollout that our own writes have already replaced. After a reconcile
//! writes a Rollout, the watch may still deliver the version it read (or one of its own
//! intermediate writes) and wake it again; deciding on that stale copy would only end in a
//! conflict. Such a reconcile is skipped: the newer version is on its way and wakes it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Superseded resourceVersions per Rollout (`namespace/name`).
#[derive(Debug, Default)]
pub struct OwnWrites {
    superseded: Mutex<HashMap<String, HashSet<String>>>,
}

impl OwnWrites {
    /// Records that our writes to `key` replaced the versions in `versions`.
    pub fn replaced(&self, key: &str, versions: impl IntoIterator<Item = String>) {
        let versions: HashSet<String> = versions.into_iter().collect();
        if versions.is_empty() {
            return;
        }
        let mut superseded = self.superseded.lock().unwrap_or_else(|e| e.into_inner());
        superseded.insert(key.to_string(), versions);
    }

    /// Whether `version` of `key` is one our writes already replaced. Seeing any other version
    /// forgets what was recorded for `key`.
    pub fn is_stale(&self, key: &str, version: Option<&str>) -> bool {
        let mut superseded = self.superseded.lock().unwrap_or_else(|e| e.into_inner());
        let stale = version.is_some_and(|v| superseded.get(key).is_some_and(|s| s.contains(v)));
        if !stale {
            superseded.remove(key);
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_our_writes_replaced_is_stale_until_a_newer_one_is_seen() {
        let writes = OwnWrites::default();
        assert!(!writes.is_stale("d/r", Some("10")));
        writes.replaced("d/r", ["10".to_string(), "11".to_string()]);
        assert!(writes.is_stale("d/r", Some("10")));
        assert!(writes.is_stale("d/r", Some("11")));
        assert!(!writes.is_stale("d/other", Some("10")));
        assert!(
            !writes.is_stale("d/r", Some("12")),
            "our last write arrived"
        );
        assert!(
            !writes.is_stale("d/r", Some("10")),
            "forgotten once a newer one was seen"
        );
    }
}
