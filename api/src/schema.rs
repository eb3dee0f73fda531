//! Schema details that derive attributes cannot express: percentage patterns and the CEL rules
//! of Gateway API path matches (same rules as upstream's CRD).

use schemars::Schema;
use serde_json::json;

/// A percentage from `0%` to `100%` (traffic weights; blue-green allows `0%`).
pub const PERCENT_0_TO_100: &str = r"^(100|[1-9]?[0-9])%$";

/// The string form of step replicas: a percentage from `1%` to `100%`.
pub const REPLICAS_PERCENT: &str = r"^(100|[1-9][0-9]?)%$";

const PATH_RULES: &[(&str, &str)] = &[
    (
        "(self.type in ['Exact','PathPrefix']) ? self.value.startsWith('/') : true",
        "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
    ),
    (
        "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('//') : true",
        "must not contain '//' when type one of ['Exact', 'PathPrefix']",
    ),
    (
        "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('/./') : true",
        "must not contain '/./' when type one of ['Exact', 'PathPrefix']",
    ),
    (
        "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('/../') : true",
        "must not contain '/../' when type one of ['Exact', 'PathPrefix']",
    ),
    (
        "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('%2f') : true",
        "must not contain '%2f' when type one of ['Exact', 'PathPrefix']",
    ),
    (
        "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('%2F') : true",
        "must not contain '%2F' when type one of ['Exact', 'PathPrefix']",
    ),
    (
        "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('#') : true",
        "must not contain '#' when type one of ['Exact', 'PathPrefix']",
    ),
    (
        "(self.type in ['Exact','PathPrefix']) ? !self.value.endsWith('/..') : true",
        "must not end with '/..' when type one of ['Exact', 'PathPrefix']",
    ),
    (
        "(self.type in ['Exact','PathPrefix']) ? !self.value.endsWith('/.') : true",
        "must not end with '/.' when type one of ['Exact', 'PathPrefix']",
    ),
    (
        "self.type in ['Exact','PathPrefix'] || self.type == 'RegularExpression'",
        "type must be one of ['Exact', 'PathPrefix', 'RegularExpression']",
    ),
    (
        r#"(self.type in ['Exact','PathPrefix']) ? self.value.matches(r"""^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$""") : true"#,
        "must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']",
    ),
];

/// Adds the Gateway API path-match CEL rules to the HTTPPathMatch schema.
pub fn add_path_validations(schema: &mut Schema) {
    let rules: Vec<_> = PATH_RULES
        .iter()
        .map(|(rule, message)| json!({ "rule": rule, "message": message }))
        .collect();
    schema.insert("x-kubernetes-validations".into(), json!(rules));
}
