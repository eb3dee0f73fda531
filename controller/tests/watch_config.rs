//! How the caches' first lists are read: streamed when the API server answers a streaming
//! watch, in pages when it refuses one (servers without the WatchList feature) or fails.

mod support;

use http::Method;
use kube::runtime::watcher::InitialListStrategy;
use rollouts_controller::cache::watch_config;
use serde_json::json;
use support::FakeApi;

const ROLLOUTS: &str = "/apis/rollouts.kruise.io/v1beta1/rollouts";

#[tokio::test]
async fn lists_are_streamed_when_the_server_answers_a_streaming_watch() {
    let api = FakeApi::default();
    api.put(
        ROLLOUTS,
        json!({"type": "BOOKMARK", "object": {
            "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout",
            "metadata": {"resourceVersion": "7",
                "annotations": {"k8s.io/initial-events-end": "true"}}}}),
    );
    let config = watch_config(&api.client()).await;
    assert_eq!(
        config.initial_list_strategy,
        InitialListStrategy::StreamingList
    );
    let probe = &api.calls()[0];
    assert_eq!(
        (probe.method.clone(), probe.path.as_str()),
        (Method::GET, ROLLOUTS)
    );
}

#[tokio::test]
async fn lists_are_paged_when_the_server_refuses_or_fails_a_streaming_watch() {
    for status in [422, 400, 403, 500] {
        let api = FakeApi::default();
        api.fail_next(Method::GET, "/rollouts", status);
        let config = watch_config(&api.client()).await;
        assert_eq!(
            config.initial_list_strategy,
            InitialListStrategy::ListWatch,
            "HTTP {status}"
        );
    }
}
