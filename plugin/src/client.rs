//! Connecting as kubectl does (`--kubeconfig`, `--context`, the context's namespace), and
//! turning API failures into one clear line.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Why a command failed; printed as one line, exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The Rollout argument names no Rollout.
    #[error(transparent)]
    Target(#[from] crate::target::TargetError),
    /// The kubeconfig could not be read or has no such context.
    #[error("kubeconfig: {0}")]
    Config(String),
    /// The API server did not answer.
    #[error("cannot reach the cluster at {server}: {reason}")]
    Unreachable {
        /// API server URL.
        server: String,
        /// Why.
        reason: String,
    },
    /// No such Rollout.
    #[error("rollouts.rollouts.kruise.io {name:?} not found in namespace {namespace:?}")]
    NotFound {
        /// Rollout name.
        name: String,
        /// Namespace.
        namespace: String,
    },
    /// RBAC refused the call.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The command does not apply to the Rollout as it is.
    #[error("{0}")]
    Refused(String),
    /// Any other API error.
    #[error("{action}: {message}")]
    Api {
        /// What was being done.
        action: String,
        /// The API server's message.
        message: String,
    },
}

/// A client and the namespace to use.
pub struct Connection {
    /// API client.
    pub client: Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
    /// API server URL, for error messages.
    pub server: String,
}

/// Connects with kubectl's flags.
pub async fn connect(
    kubeconfig: Option<&str>,
    context: Option<&str>,
    namespace: Option<&str>,
) -> Result<Connection, CliError> {
    let options = KubeConfigOptions {
        context: context.map(String::from),
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| CliError::Config(format!("{path}: {e}")))?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| CliError::Config(e.to_string()))?
        }
        None if context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| CliError::Config(e.to_string()))?,
        None => Config::infer()
            .await
            .map_err(|e| CliError::Config(e.to_string()))?,
    };
    let server = config.cluster_url.to_string();
    let namespace = namespace
        .map(String::from)
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| CliError::Config(e.to_string()))?;
    Ok(Connection {
        client,
        namespace,
        server,
    })
}

impl Connection {
    /// The one-line error for a failed API call about Rollout `name`.
    pub fn explain(&self, action: &str, name: &str, error: kube::Error) -> CliError {
        match error {
            kube::Error::Api(status) if status.code == 404 => CliError::NotFound {
                name: name.to_string(),
                namespace: self.namespace.clone(),
            },
            kube::Error::Api(status) if status.code == 403 => CliError::Forbidden(status.message),
            kube::Error::Api(status) => CliError::Api {
                action: action.to_string(),
                message: status.message,
            },
            other => CliError::Unreachable {
                server: self.server.clone(),
                reason: root_cause(&other),
            },
        }
    }
}

/// The innermost error message (e.g. "Connection refused (os error 111)").
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
