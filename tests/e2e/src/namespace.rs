//! A namespace of its own for each test, deleted when the test ends (pass or fail).

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use std::sync::atomic::{AtomicU32, Ordering};

/// A namespace created for one test; dropping it deletes the namespace.
pub struct TestNamespace {
    /// The namespace's name.
    pub name: String,
}

impl TestNamespace {
    /// Creates `e2e-<prefix>-<pid>-<n>`.
    pub async fn create(client: &Client, prefix: &str) -> Self {
        Self::create_labelled(client, prefix, serde_json::json!({})).await
    }

    /// Creates `e2e-<prefix>-<pid>-<n>` with labels.
    pub async fn create_labelled(client: &Client, prefix: &str, labels: serde_json::Value) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("e2e-{prefix}-{}-{n}", std::process::id());
        let namespace: Namespace = serde_json::from_value(
            serde_json::json!({"metadata": {"name": name, "labels": labels}}),
        )
        .unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("cannot create namespace {name}: {e}"));
        Self { name }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await, and the test's runtime may be the one blocked here (a panicking
        // test), so the deletion gets a runtime and a client of its own.
        let deletion = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = crate::cluster().client().await;
                Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::background())
                    .await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        });
        if let Ok(Err(e)) = deletion.join() {
            eprintln!(
                "warning: could not delete test namespace {}: {e}",
                self.name
            );
        }
    }
}
