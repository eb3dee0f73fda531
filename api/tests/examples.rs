//! The sample application in `examples/echoserver/` hangs together (the Rollouts govern its
//! Deployment, the Ingresses reach its Service, version 2 changes only the version), and, with
//! the team's conformance data, its objects are exactly the seed's.

mod support;

use serde_json::{Value, json};
use std::path::PathBuf;
use support::{conformance_dir, repo_root, report_ran, report_skipped, yaml_docs};

/// The example files that mirror a file of the seed under the same name.
const MIRRORED: [&str; 6] = [
    "echoserver.yaml",
    "echoserver-ingress-nginx.yaml",
    "echoserver-ingress-mse.yaml",
    "rollout-canary.yaml",
    "rollout-ab.yaml",
    "rollout-partition.yaml",
];

fn example_path(file: &str) -> PathBuf {
    repo_root().join("examples/echoserver").join(file)
}

/// The documents of one example file.
fn example(file: &str) -> Vec<Value> {
    yaml_docs(&example_path(file))
        .into_iter()
        .map(|d| d.value)
        .collect()
}

fn kinds_and_names(docs: &[Value]) -> Vec<(String, String)> {
    docs.iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default().to_string(),
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn examples_are_echoserver_its_ingresses_and_one_rollout_per_use_case() {
    let app = [
        ("Deployment".to_string(), "echoserver".to_string()),
        ("Service".to_string(), "echoserver".to_string()),
    ];
    assert_eq!(kinds_and_names(&example("echoserver.yaml")), app);
    assert_eq!(kinds_and_names(&example("echoserver-v2.yaml")), app);
    let deployment = &example("echoserver.yaml")[0];
    assert_eq!(deployment["spec"]["replicas"], 5);
    for (file, class) in [
        ("echoserver-ingress-nginx.yaml", "nginx"),
        ("echoserver-ingress-mse.yaml", "mse"),
    ] {
        let ingress = &example(file)[0];
        assert_eq!(ingress["kind"], "Ingress", "{file}");
        assert_eq!(ingress["spec"]["ingressClassName"], class, "{file}");
        let path = &ingress["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(path["path"], "/apis/echo", "{file}");
        assert_eq!(
            path["backend"]["service"],
            json!({"name": "echoserver", "port": {"number": 80}}),
            "{file}"
        );
    }
    for file in [
        "rollout-canary.yaml",
        "rollout-ab.yaml",
        "rollout-partition.yaml",
    ] {
        let rollout = &example(file)[0];
        assert_eq!(rollout["metadata"]["name"], "rollouts-demo", "{file}");
        assert_eq!(
            rollout["spec"]["objectRef"]["workloadRef"],
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver"}),
            "{file}"
        );
        let steps = rollout["spec"]["strategy"]["canary"]["steps"]
            .as_array()
            .unwrap();
        let plan: Vec<_> = steps
            .iter()
            .map(|s| (s["replicas"].clone(), s["pause"].clone()))
            .collect();
        assert_eq!(
            plan,
            [
                (json!(1), json!({})),
                (json!("50%"), json!({"duration": 60})),
                (json!("100%"), json!({"duration": 60})),
            ],
            "{file}: 1 pod and approval, half after 60 s, all after 60 s"
        );
    }
}

#[test]
fn the_cloneset_example_is_the_same_application_released_by_its_own_rollout() {
    let cloneset = &example("cloneset.yaml")[0];
    assert_eq!(
        kinds_and_names(&example("cloneset.yaml")),
        [("CloneSet".to_string(), "echoserver".to_string())]
    );
    let deployment = &example("echoserver.yaml")[0];
    for field in ["replicas", "selector", "template"] {
        assert_eq!(
            cloneset["spec"][field], deployment["spec"][field],
            "spec.{field}"
        );
    }
    let rollout = &example("rollout-cloneset.yaml")[0];
    assert_eq!(rollout["metadata"]["name"], "rollouts-demo");
    assert_eq!(
        rollout["spec"]["workloadRef"],
        json!({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "echoserver"})
    );
    let v1 = serde_json::to_string(&example("cloneset.yaml")).unwrap();
    let expected = v1
        .replace("demo:1.10.2", "demo:1.10.3")
        .replace(r#""value":"version1""#, r#""value":"version2""#);
    assert_eq!(
        serde_json::to_string(&example("cloneset-v2.yaml")).unwrap(),
        expected,
        "version 2 changes only the image tag and NODE_NAME"
    );
}

#[test]
fn example_v2_changes_only_the_image_tag_and_node_name() {
    let v1 = serde_json::to_string(&example("echoserver.yaml")).unwrap();
    let expected = v1
        .replace("demo:1.10.2", "demo:1.10.3")
        .replace(r#""value":"version1""#, r#""value":"version2""#);
    assert_ne!(expected, v1, "version 1 has the image tag and NODE_NAME");
    assert_eq!(
        serde_json::to_string(&example("echoserver-v2.yaml")).unwrap(),
        expected
    );
}

#[test]
fn conformance_examples_are_the_seeds_objects() {
    let test = "conformance_examples_are_the_seeds_objects";
    let Some(dir) = conformance_dir() else {
        return report_skipped(test);
    };
    for file in MIRRORED {
        let seed: Vec<_> = yaml_docs(&dir.join("seed").join(file))
            .into_iter()
            .map(|d| d.value)
            .collect();
        assert_eq!(
            example(file),
            seed,
            "examples/echoserver/{file} differs from the seed's"
        );
    }
    report_ran(test, &dir, MIRRORED.len());
}
