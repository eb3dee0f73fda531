//! AdmissionReview v1 on the wire: the request fields the handlers use, decoded in one pass
//! straight into JSON values (no typed object metadata, no copies), and the response encoded
//! directly.

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// Group, version and kind of the object in a request.
#[derive(Deserialize, Debug, Clone, Default)]
pub struct Kind {
    /// API group (`""` for the core group).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// The parts of an admission request the handlers read.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Copied into the response.
    pub uid: String,
    /// Kind of the object.
    pub kind: Kind,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// Set for `/status`, `/scale` and other subresources.
    #[serde(default)]
    pub sub_resource: Option<String>,
    /// Namespace of the object.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Name of the object.
    #[serde(default)]
    pub name: String,
    /// The object as it would be stored.
    #[serde(default)]
    pub object: Option<Value>,
    /// The stored object (UPDATE, DELETE).
    #[serde(default)]
    pub old_object: Option<Value>,
}

impl AdmissionRequest {
    /// Whether this is an UPDATE of the object itself (not of a subresource).
    pub fn is_plain_update(&self) -> bool {
        self.operation == "UPDATE" && self.sub_resource.is_none()
    }
}

/// The answer to an admission request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionResponse {
    /// The request's uid.
    pub uid: String,
    /// Admitted or not.
    pub allowed: bool,
    /// JSON patch (the operations array, not yet base64) to apply when admitted.
    pub patch: Option<Vec<u8>>,
    /// Why it was refused.
    pub message: String,
    /// HTTP-like status code of a refusal (403 by default, 422 for invalid objects).
    pub code: u16,
    /// Machine-readable reason of a refusal.
    pub reason: String,
}

impl AdmissionResponse {
    /// Admits `request` unchanged.
    pub fn allow(request: &AdmissionRequest) -> Self {
        Self {
            uid: request.uid.clone(),
            allowed: true,
            patch: None,
            message: String::new(),
            code: 200,
            reason: String::new(),
        }
    }

    /// Refuses with a message (403 Forbidden unless changed).
    pub fn deny(mut self, message: impl Into<String>) -> Self {
        self.allowed = false;
        self.message = message.into();
        self.code = 403;
        self.reason = "Forbidden".into();
        self
    }

    /// A refusal of a request that could not be read (its uid is unknown).
    pub fn invalid(message: impl Into<String>) -> Self {
        let blank = Self {
            uid: String::new(),
            allowed: true,
            patch: None,
            message: String::new(),
            code: 400,
            reason: String::new(),
        };
        let mut response = blank.deny(message);
        response.code = 400;
        response.reason = "BadRequest".into();
        response
    }

    /// The AdmissionReview v1 body to send back.
    pub fn into_review(self) -> Vec<u8> {
        let mut response = serde_json::json!({"uid": self.uid, "allowed": self.allowed});
        if let Some(patch) = self.patch {
            response["patchType"] = "JSONPatch".into();
            response["patch"] = base64::engine::general_purpose::STANDARD
                .encode(patch)
                .into();
        }
        if !self.allowed {
            response["status"] = serde_json::json!({"code": self.code, "message": self.message, "reason": self.reason, "status": "Failure"});
        }
        let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response});
        serde_json::to_vec(&review).expect("a JSON value always serialises")
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(borrow, default)]
    request: Option<&'a RawValue>,
}

/// Decodes an AdmissionReview body; a malformed one gets a refusal naming the problem.
pub fn decode_admission(body: &[u8]) -> Result<AdmissionRequest, AdmissionResponse> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| AdmissionResponse::invalid(format!("body is not an AdmissionReview: {e}")))?;
    if envelope.api_version.as_deref() != Some("admission.k8s.io/v1") {
        let found = envelope.api_version.unwrap_or_default();
        return Err(AdmissionResponse::invalid(format!(
            "unsupported AdmissionReview version {found:?}: admission.k8s.io/v1 is served"
        )));
    }
    let request = envelope
        .request
        .ok_or_else(|| AdmissionResponse::invalid("AdmissionReview without a request"))?;
    serde_json::from_str(request.get())
        .map_err(|e| AdmissionResponse::invalid(format!("unreadable AdmissionReview request: {e}")))
}
