//! Short, stable content hashes (FNV-1a 64) of JSON values: template revisions of Deployments
//! and the plan hash of a Rollout. Stable across processes and Rust versions, unlike `std`'s
//! hasher, because these values are stored in statuses and compared later.

use serde_json::Value;

/// Letters that never spell words or look alike (as Kubernetes' `SafeEncodeString`).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1a 64 of the value's compact JSON, written in the safe alphabet (at most 14 characters).
pub fn content_hash(value: &Value) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in value.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = Vec::new();
    let base = ALPHABET.len() as u64;
    loop {
        out.push(ALPHABET[(hash % base) as usize]);
        hash /= base;
        if hash == 0 {
            break;
        }
    }
    String::from_utf8(out).expect("the alphabet is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_hash_equal_and_different_values_differ() {
        let a = json!({"spec": {"containers": [{"image": "demo:1"}]}});
        let b = json!({"spec": {"containers": [{"image": "demo:2"}]}});
        assert_eq!(content_hash(&a), content_hash(&a.clone()));
        assert_ne!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn hash_is_pinned_so_stored_revisions_stay_comparable() {
        // A canaryRevision stored in a status must still match after an upgrade of this binary:
        // this value may only change together with a migration.
        assert_eq!(content_hash(&json!({"a": 1})), "vs2rvdfvnhkb4d");
        let parsed: Value = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert_eq!(content_hash(&parsed), "vs2rvdfvnhkb4d");
    }
}
