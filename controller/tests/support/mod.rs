//! A fake Kubernetes API server for controller tests without a cluster: a kube `Client` over a
//! `tower` service that keeps objects in memory, applies merge and JSON patches, enforces
//! `resourceVersion` preconditions of both (409 on a stale one) and records every request.

#![allow(dead_code)]

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One request the fake server answered.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    /// Path without the query string.
    pub path: String,
    pub body: Value,
    pub status: u16,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    calls: Vec<Call>,
    version: u64,
    /// Status codes forced for the next requests matching (method, path suffix).
    failures: Vec<(Method, String, u16)>,
}

/// The fake server; clone it to inspect it while a client uses it.
#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    /// Stores `object` at `path` (e.g. `/apis/apps/v1/namespaces/d/deployments/web`), with a
    /// fresh resourceVersion.
    pub fn put(&self, path: &str, mut object: Value) {
        let mut state = self.state.lock().unwrap();
        state.version += 1;
        object["metadata"]["resourceVersion"] = json!(state.version.to_string());
        state.objects.insert(path.to_string(), object);
    }

    /// The object at `path`.
    pub fn get(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Requests that change something (not GET).
    pub fn writes(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method != Method::GET)
            .collect()
    }

    /// Answers the next `method` request whose path ends with `suffix` with `status`.
    pub fn fail_next(&self, method: Method, suffix: &str, status: u16) {
        let mut state = self.state.lock().unwrap();
        state.failures.push((method, suffix.to_string(), status));
    }

    /// A kube client talking to this server.
    pub fn client(&self) -> kube::Client {
        let api = self.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let api = api.clone();
            async move { Ok::<_, std::convert::Infallible>(api.answer(request).await) }
        });
        kube::Client::new(service, "default")
    }

    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = request
            .into_body()
            .collect_bytes()
            .await
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let (status, answer) = self.handle(&method, &path, &content_type, &body);
        self.state.lock().unwrap().calls.push(Call {
            method,
            path,
            body,
            status,
        });
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&answer).unwrap()))
            .unwrap()
    }

    fn handle(
        &self,
        method: &Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> (u16, Value) {
        let mut state = self.state.lock().unwrap();
        if let Some(i) = state
            .failures
            .iter()
            .position(|(m, suffix, _)| m == method && path.ends_with(suffix.as_str()))
        {
            let (_, _, code) = state.failures.remove(i);
            return (code, status_body(code, "injected failure"));
        }
        if path.contains("/events") && *method == Method::POST {
            return (201, body.clone());
        }
        let (key, subresource) = match path.strip_suffix("/status") {
            Some(object) => (object.to_string(), true),
            None => (path.to_string(), false),
        };
        match *method {
            Method::GET => match state.objects.get(&key) {
                Some(object) => (200, object.clone()),
                None => (404, status_body(404, "not found")),
            },
            Method::POST => {
                let name = body["metadata"]["name"].as_str().unwrap_or_default();
                let key = format!("{path}/{name}");
                if state.objects.contains_key(&key) {
                    return (409, status_body(409, "already exists"));
                }
                state.version += 1;
                let mut object = body.clone();
                object["metadata"]["resourceVersion"] = json!(state.version.to_string());
                state.objects.insert(key, object.clone());
                (201, object)
            }
            Method::DELETE => match state.objects.remove(&key) {
                Some(object) => (200, object),
                None => (404, status_body(404, "not found")),
            },
            Method::PATCH => {
                let Some(current) = state.objects.get(&key).cloned() else {
                    return (404, status_body(404, "not found"));
                };
                let mut next = current.clone();
                if content_type.contains("json-patch") {
                    let patch: json_patch::Patch = match serde_json::from_value(body.clone()) {
                        Ok(p) => p,
                        Err(e) => return (400, status_body(400, &e.to_string())),
                    };
                    if json_patch::patch(&mut next, &patch).is_err() {
                        return (422, status_body(422, "the JSON patch does not apply"));
                    }
                    // A resourceVersion the patch sets is a precondition, as for a merge patch.
                    if next["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]
                    {
                        return (409, status_body(409, "the object has been modified"));
                    }
                } else {
                    let wanted = body
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str);
                    let stored = current["metadata"]["resourceVersion"].as_str();
                    if wanted.is_some() && wanted != stored {
                        return (409, status_body(409, "the object has been modified"));
                    }
                    let mut patch = body.clone();
                    if subresource {
                        patch =
                            json!({"status": body.get("status").cloned().unwrap_or(Value::Null)});
                    }
                    json_patch::merge(&mut next, &patch);
                }
                if next == current {
                    return (200, current);
                }
                state.version += 1;
                next["metadata"]["resourceVersion"] = json!(state.version.to_string());
                state.objects.insert(key, next.clone());
                (200, next)
            }
            _ => (405, status_body(405, "method not allowed")),
        }
    }
}

fn status_body(code: u16, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
           "reason": "", "code": code})
}
