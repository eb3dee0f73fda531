//! Which script routes traffic for an object or an Ingress class: the built-in ones (Istio
//! VirtualService and DestinationRule; Higress and Aliyun ALB Ingress annotations) and the
//! user's, from the `kruise-rollout-configuration` ConfigMap. For an object a built-in script
//! comes first; for an Ingress class the ConfigMap does, as upstream.

use crate::Script;
use std::collections::BTreeMap;

const VIRTUAL_SERVICE: &str = include_str!("../lua/virtual_service.lua");
const DESTINATION_RULE: &str = include_str!("../lua/destination_rule.lua");
const INGRESS_ANNOTATIONS: &str = include_str!("../lua/ingress_annotations.lua");

/// The API group of an `apiVersion` (`""` for the core group).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// The ConfigMap key of the script for objects of `kind` in `api_version`'s group, e.g.
/// `lua.traffic.routing.VirtualService.networking.istio.io`.
pub fn object_key(api_version: &str, kind: &str) -> String {
    format!("lua.traffic.routing.{kind}.{}", group_of(api_version))
}

/// The ConfigMap key of the script for Ingresses of `class`, e.g.
/// `lua.traffic.routing.ingress.higress`.
pub fn ingress_class_key(class: &str) -> String {
    format!("lua.traffic.routing.ingress.{class}")
}

/// The built-in script for objects of `kind` in `api_version`'s group, if there is one.
pub fn builtin_for_object(api_version: &str, kind: &str) -> Option<Script> {
    let source = match (group_of(api_version), kind) {
        ("networking.istio.io", "VirtualService") => VIRTUAL_SERVICE,
        ("networking.istio.io", "DestinationRule") => DESTINATION_RULE,
        _ => return None,
    };
    Some(Script::new(
        format!("built-in {kind}.{}", group_of(api_version)),
        source,
    ))
}

/// The built-in script for Ingresses of `class`, if there is one.
pub fn builtin_for_ingress_class(class: &str) -> Option<Script> {
    let (prefix, order) = match class {
        "higress" => ("nginx.ingress.kubernetes.io/", "nil"),
        "aliyun-alb" => ("alb.ingress.kubernetes.io/", "\"1\""),
        _ => return None,
    };
    // On the script's first line, so its line numbers stay those of the file.
    let source = format!("local prefix, order = \"{prefix}\", {order} {INGRESS_ANNOTATIONS}");
    Some(Script::new(format!("built-in ingress {class}"), source))
}

/// The script for objects of `kind` in `api_version`'s group: built in, else the ConfigMap's
/// (`config` is its data).
pub fn script_for_object(
    config: &BTreeMap<String, String>,
    api_version: &str,
    kind: &str,
) -> Option<Script> {
    builtin_for_object(api_version, kind).or_else(|| {
        let key = object_key(api_version, kind);
        config.get(&key).map(|source| Script::new(key, source))
    })
}

/// The script for Ingresses of `class`: the ConfigMap's (`config` is its data), else built in.
pub fn script_for_ingress_class(config: &BTreeMap<String, String>, class: &str) -> Option<Script> {
    let key = ingress_class_key(class);
    config
        .get(&key)
        .map(|source| Script::new(key, source))
        .or_else(|| builtin_for_ingress_class(class))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_prefer_a_built_in_script_and_ingress_classes_the_configmap() {
        let config: BTreeMap<String, String> = [
            (
                "lua.traffic.routing.VirtualService.networking.istio.io",
                "return {}",
            ),
            (
                "lua.traffic.routing.ApisixRoute.apisix.apache.org",
                "return {a = 1}",
            ),
            ("lua.traffic.routing.ingress.higress", "return {b = 1}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let object =
            |api_version, kind| script_for_object(&config, api_version, kind).map(|s| s.name);
        let cases = [
            (
                object("networking.istio.io/v1alpha3", "VirtualService"),
                Some("built-in VirtualService.networking.istio.io"),
            ),
            (
                object("networking.istio.io/v1beta1", "DestinationRule"),
                Some("built-in DestinationRule.networking.istio.io"),
            ),
            (
                object("apisix.apache.org/v2", "ApisixRoute"),
                Some("lua.traffic.routing.ApisixRoute.apisix.apache.org"),
            ),
            (object("kuma.io/v1alpha1", "TrafficRoute"), None),
        ];
        for (found, expected) in cases {
            assert_eq!(found.as_deref(), expected);
        }
        let class = |class| script_for_ingress_class(&config, class).map(|s| s.name);
        assert_eq!(
            class("higress").as_deref(),
            Some("lua.traffic.routing.ingress.higress")
        );
        assert_eq!(
            class("aliyun-alb").as_deref(),
            Some("built-in ingress aliyun-alb")
        );
        assert_eq!(class("traefik"), None);
    }
}
