//! Prometheus's instant query API (`GET <address>/api/v1/query?query=...`) for metric analysis:
//! one query, one number. Every outcome is an [`Answer`]: a value, no sample, or an error that
//! names what went wrong (unreachable, timeout, a refused query, not one number).

use rollouts_plan::analysis::verdict::Answer;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A Prometheus server to query.
pub struct Prometheus {
    http: reqwest::Client,
    address: String,
    bearer_token: Option<String>,
}

impl Prometheus {
    /// A client for `address` (`http://` or `https://`), sending `bearer_token` when given and
    /// trusting only `ca_pem` for `https://` when given. Each query gives up after `timeout`.
    pub fn new(
        address: &str,
        bearer_token: Option<String>,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let builder = reqwest::Client::builder().timeout(timeout);
        let builder = match ca_pem {
            Some(pem) => builder.tls_backend_preconfigured(tls_config(pem)?),
            None => {
                // reqwest's own verifier needs a process-wide provider; one may be there already.
                let _ = rustls::crypto::ring::default_provider().install_default();
                builder
            }
        };
        let http = builder
            .build()
            .map_err(|e| format!("Prometheus client for {address}: {e}"))?;
        Ok(Self {
            http,
            address: address.trim_end_matches('/').to_string(),
            bearer_token,
        })
    }

    /// The answer to `query` (a PromQL instant query, at the server's current time).
    pub async fn query(&self, query: &str) -> Answer {
        let endpoint = format!("{}/api/v1/query", self.address);
        let url = match reqwest::Url::parse_with_params(&endpoint, [("query", query)]) {
            Ok(url) => url,
            Err(error) => return Answer::Error(format!("Prometheus address {endpoint}: {error}")),
        };
        let mut request = self.http.get(url.clone());
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token);
        }
        tracing::debug!(%url, query, "querying Prometheus");
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) if error.is_timeout() => {
                return Answer::Error(format!(
                    "Prometheus at {} did not answer in time",
                    self.address
                ));
            }
            Err(error) => {
                return Answer::Error(format!(
                    "Prometheus at {} unreachable: {error}",
                    self.address
                ));
            }
        };
        let status = response.status().as_u16();
        let answer = match response.bytes().await {
            Ok(body) => parse(status, body.as_ref()),
            Err(error) => Answer::Error(format!("reading Prometheus's answer: {error}")),
        };
        tracing::debug!(query, ?answer, "Prometheus answered");
        answer
    }
}

fn tls_config(ca_pem: &[u8]) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| format!("the CA bundle is not PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("a certificate of the CA bundle is refused: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the CA bundle holds no certificate".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A sample's value: Prometheus writes numbers as strings (`"42"`, `"NaN"`, `"+Inf"`).
fn number(sample: &Value) -> Option<f64> {
    sample.get(1)?.as_str()?.parse().ok()
}

/// What an `/api/v1/query` answer with HTTP `status` and `body` says.
pub fn parse(status: u16, body: &[u8]) -> Answer {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Answer::Error(format!("Prometheus answered HTTP {status}: {text}"));
    };
    if json["status"] != "success" {
        let kind = json["errorType"].as_str().unwrap_or("error");
        let error = json["error"].as_str().unwrap_or("no reason given");
        return Answer::Error(format!("Prometheus refused the query ({kind}): {error}"));
    }
    let data = &json["data"];
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar") => number(result)
            .map(Answer::Value)
            .unwrap_or_else(|| Answer::Error(format!("unreadable scalar {result}"))),
        Some("vector") => match result.as_array().map(Vec::as_slice) {
            Some([]) => Answer::Empty,
            Some([sample]) => number(&sample["value"])
                .map(Answer::Value)
                .unwrap_or_else(|| Answer::Error(format!("unreadable sample {sample}"))),
            Some(samples) => Answer::Error(format!(
                "the query returned {} samples; it must return one number (aggregate it, e.g. with sum)",
                samples.len()
            )),
            None => Answer::Error(format!("unreadable vector {result}")),
        },
        other => Answer::Error(format!(
            "the query returned a {}, not one number",
            other.unwrap_or("result of no type")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_format_is_read_as_a_number_no_sample_or_a_named_error() {
        let vector = |values: &[&str]| {
            let samples: Vec<Value> = values
                .iter()
                .map(
                    |v| serde_json::json!({"metric": {"path": "/x"}, "value": [1796062308.278, v]}),
                )
                .collect();
            serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": samples}})
                .to_string()
        };
        let scalar = |v: &str| {
            serde_json::json!({"status": "success", "data": {"resultType": "scalar", "result": [1796062313.614, v]}})
                .to_string()
        };
        let refused = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}"#;
        let string = r#"{"status":"success","data":{"resultType":"string","result":[1796062313.6,"hello"]}}"#;
        // (HTTP status, body) -> answer (NaN checked apart: it is not equal to itself)
        let cases: Vec<(u16, String, Answer)> = vec![
            (200, vector(&["42"]), Answer::Value(42.0)),
            (200, vector(&["0.05"]), Answer::Value(0.05)),
            (200, vector(&["+Inf"]), Answer::Value(f64::INFINITY)),
            (200, vector(&[]), Answer::Empty),
            (200, scalar("1"), Answer::Value(1.0)),
            (
                200,
                vector(&["1", "2"]),
                Answer::Error("the query returned 2 samples; it must return one number (aggregate it, e.g. with sum)".into()),
            ),
            (
                400,
                refused.into(),
                Answer::Error("Prometheus refused the query (bad_data): invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis".into()),
            ),
            (200, string.into(), Answer::Error("the query returned a string, not one number".into())),
            (502, "Bad Gateway".into(), Answer::Error("Prometheus answered HTTP 502: Bad Gateway".into())),
        ];
        for (status, body, expected) in cases {
            assert_eq!(parse(status, body.as_bytes()), expected, "{body}");
        }
        for body in [vector(&["NaN"]), scalar("NaN")] {
            assert!(
                matches!(parse(200, body.as_bytes()), Answer::Value(v) if v.is_nan()),
                "{body}"
            );
        }
    }
}
