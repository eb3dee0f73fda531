//! Lossless conversion of Rollouts between v1alpha1 and v1beta1.
//!
//! The field mapping is upstream's (`mapping`). Some fields exist in only one version (blue-green,
//! path and query matches, `rolloutID`, a step without replicas, ...). Upstream drops them; we
//! keep them in the `rollouts.kruise.io/conversion-data` annotation of the converted object, only
//! when the mapping alone would lose something, and restore them on the way back as long as
//! the object was not edited in between. So every object converts there and back unchanged.

mod mapping;

pub use mapping::{alpha_to_beta, beta_to_alpha, is_partition_style, traffic_to_weight};

use crate::keys;
use crate::{v1alpha1, v1beta1};
use kube::Resource;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Annotations the mapping writes or reads, restored together with the spec.
const MAPPED_ANNOTATIONS: [&str; 2] = [keys::ROLLING_STYLE, keys::TRAFFIC_ROUTING];

/// A conversion that cannot produce a valid object.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// The object does not fit the target version's types.
    #[error("cannot convert Rollout {name} to {target}: {source}")]
    Encode {
        /// Name of the Rollout.
        name: String,
        /// Target apiVersion.
        target: String,
        /// What serde reported.
        source: serde_json::Error,
    },
}

/// What the converted object carries so the source can be rebuilt exactly.
#[derive(Serialize, Deserialize, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Stash {
    /// apiVersion of the object the stash rebuilds.
    api_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<Value>,
    /// Values of the mapped annotations in the source (`None` = absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Value>,
}

/// Converts a v1alpha1 Rollout to v1beta1 without losing anything.
pub fn to_v1beta1(src: &v1alpha1::Rollout) -> Result<v1beta1::Rollout, ConversionError> {
    convert(src, alpha_to_beta, beta_to_alpha)
}

/// Converts a v1beta1 Rollout to v1alpha1 without losing anything.
pub fn to_v1alpha1(src: &v1beta1::Rollout) -> Result<v1alpha1::Rollout, ConversionError> {
    convert(src, beta_to_alpha, alpha_to_beta)
}

fn convert<S, T>(src: &S, forward: fn(&S) -> T, back: fn(&T) -> S) -> Result<T, ConversionError>
where
    S: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    T: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
{
    let name = src.meta().name.clone().unwrap_or_default();
    let encode = |source| ConversionError::Encode {
        name: name.clone(),
        target: T::api_version(&()).into_owned(),
        source,
    };
    let src_value = serde_json::to_value(src).map_err(encode)?;
    let (plain_src, stash) = split_stash(src_value, &T::api_version(&()));
    let plain: S = serde_json::from_value(plain_src.clone()).map_err(encode)?;
    let mut out = serde_json::to_value(forward(&plain)).map_err(encode)?;
    if let Some(stash) = stash {
        restore(&mut out, &stash, &plain_src, back);
    }
    let round_trip = serde_json::from_value::<T>(out.clone())
        .ok()
        .and_then(|t| serde_json::to_value(back(&t)).ok())
        .unwrap_or(Value::Null);
    let needed = stash_for(&plain_src, &round_trip, &S::api_version(&()));
    if needed != Stash::default() {
        let text = serde_json::to_string(&needed).map_err(encode)?;
        set_annotation(&mut out, keys::CONVERSION_DATA, Some(text));
    }
    serde_json::from_value(out).map_err(encode)
}

/// Removes the stash annotation; returns the stash if it rebuilds an object of `target`.
fn split_stash(mut value: Value, target: &str) -> (Value, Option<Stash>) {
    let raw = set_annotation(&mut value, keys::CONVERSION_DATA, None);
    let stash = raw
        .and_then(|text| serde_json::from_str::<Stash>(&text).ok())
        .filter(|s| s.api_version == target);
    (value, stash)
}

/// Puts stashed parts into `out` where converting them back reproduces the source unchanged.
fn restore<S, T>(out: &mut Value, stash: &Stash, src: &Value, back: fn(&T) -> S)
where
    S: Serialize,
    T: DeserializeOwned,
{
    let mut candidate = out.clone();
    if let Some(spec) = &stash.spec {
        candidate["spec"] = spec.clone();
        for (key, value) in &stash.annotations {
            set_annotation(&mut candidate, key, value.clone());
        }
    }
    if let Some(status) = &stash.status {
        candidate["status"] = status.clone();
    }
    let Some(back_value) = serde_json::from_value::<T>(candidate.clone())
        .ok()
        .and_then(|t| serde_json::to_value(back(&t)).ok())
    else {
        return;
    };
    if stash.spec.is_some() && spec_unit(&back_value) == spec_unit(src) {
        out["spec"] = candidate["spec"].clone();
        for key in MAPPED_ANNOTATIONS {
            set_annotation(out, key, annotation(&candidate, key));
        }
    }
    if stash.status.is_some() && back_value.get("status") == src.get("status") {
        out["status"] = candidate["status"].clone();
    }
}

/// The stash that rebuilds `src` from an object whose plain conversion back gives `round_trip`.
fn stash_for(src: &Value, round_trip: &Value, src_api_version: &str) -> Stash {
    let mut stash = Stash::default();
    if spec_unit(src) != spec_unit(round_trip) {
        stash.spec = Some(src.get("spec").cloned().unwrap_or(Value::Null));
        stash.annotations = MAPPED_ANNOTATIONS
            .iter()
            .map(|key| (key.to_string(), annotation(src, key)))
            .collect();
    }
    if src.get("status") != round_trip.get("status") {
        stash.status = src.get("status").cloned();
    }
    if stash != Stash::default() {
        stash.api_version = src_api_version.to_string();
    }
    stash
}

/// The spec together with the annotations the mapping derives from it.
fn spec_unit(object: &Value) -> (Option<&Value>, Vec<Option<String>>) {
    let annotations = MAPPED_ANNOTATIONS
        .iter()
        .map(|k| annotation(object, k))
        .collect();
    (object.get("spec"), annotations)
}

fn annotation(object: &Value, key: &str) -> Option<String> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Sets (`Some`) or removes (`None`) an annotation; returns the previous value. An emptied
/// annotation map is removed so that "no annotations" stays absent.
fn set_annotation(object: &mut Value, key: &str, value: Option<String>) -> Option<String> {
    let metadata = object.get_mut("metadata").and_then(Value::as_object_mut)?;
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    let map = annotations.as_object_mut()?;
    let previous = match value {
        Some(v) => map.insert(key.to_string(), Value::String(v)),
        None => map.remove(key),
    };
    if map.is_empty() {
        metadata.remove("annotations");
    }
    previous.and_then(|v| v.as_str().map(str::to_string))
}
