//! End-to-end test harness against the real local control plane of `tests/cluster`.
//! The harness and its tests arrive with the control-plane issue.
