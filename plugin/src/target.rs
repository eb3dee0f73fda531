//! The Rollout argument forms upstream's CLI accepts: `rollouts/NAME`, `rollout/NAME`, `NAME`.

/// A Rollout argument that names no Rollout.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The resource type before `/` is not a Rollout.
    #[error("unsupported resource type {0:?}: use rollouts/NAME, rollout/NAME or NAME")]
    WrongResource(String),
    /// Nothing after `/`, or an empty argument.
    #[error("missing Rollout name: use rollouts/NAME, rollout/NAME or NAME")]
    MissingName,
}

/// The Rollout name of a command-line argument.
pub fn rollout_name(argument: &str) -> Result<&str, TargetError> {
    let name = match argument.split_once('/') {
        Some((resource, name)) => {
            let (resource_name, group) = resource
                .split_once('.')
                .unwrap_or((resource, rollouts_api::keys::GROUP));
            if !matches!(resource_name, "rollout" | "rollouts")
                || group != rollouts_api::keys::GROUP
            {
                return Err(TargetError::WrongResource(resource.to_string()));
            }
            name
        }
        None => argument,
    };
    if name.is_empty() {
        return Err(TargetError::MissingName);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_argument_forms_of_upstreams_cli() {
        let qualified = format!("rollouts.{}/demo", rollouts_api::keys::GROUP);
        let cases = [
            ("rollouts/rollouts-demo", Ok("rollouts-demo")),
            ("rollout/rollouts-demo", Ok("rollouts-demo")),
            (qualified.as_str(), Ok("demo")),
            (
                "rollouts.example.com/demo",
                Err(TargetError::WrongResource("rollouts.example.com".into())),
            ),
            ("rollouts-demo", Ok("rollouts-demo")),
            (
                "deployment/echoserver",
                Err(TargetError::WrongResource("deployment".into())),
            ),
            ("rollouts/", Err(TargetError::MissingName)),
            ("", Err(TargetError::MissingName)),
        ];
        for (argument, expected) in cases {
            assert_eq!(rollout_name(argument), expected, "{argument:?}");
        }
    }
}
