//! A user's own Ingress-class script, written the way scripts for upstream are (string
//! patterns, `json.encode`, tables built in loops): a step of cookie and header matches becomes
//! ALB-style routing conditions on the canary Ingress, the next step a weight, and the end
//! removes the canary Ingress. The class is unique to this test process, so the shared scripts
//! ConfigMap changes no other test's routing.

use rollouts_e2e::release::*;
use rollouts_e2e::traffic::*;
use rollouts_e2e::*;
use serde_json::{Value, json};

const NAME: &str = "rollouts-demo";

/// Conditions for ALB from the step's matches: a `Cookie` header's `k=v;k=v` pairs, any other
/// header's `;`-separated values; or a weight when the step has no matches.
const CONDITIONS_SCRIPT: &str = r#"
local prefix = "alb.ingress.kubernetes.io/"
local annotations = obj.annotations or {}
annotations[prefix .. "canary"] = "true"
annotations[prefix .. "canary-weight"] = nil
annotations[prefix .. "conditions." .. obj.canaryService] = nil
if obj.weight ~= "-1" then
  annotations[prefix .. "canary-weight"] = obj.weight
end
if obj.matches then
  local conditions = {}
  for _, match in ipairs(obj.matches) do
    for _, header in ipairs(match.headers or {}) do
      local values = {}
      if header.name == "Cookie" then
        for pair in string.gmatch(header.value, "[^;]+") do
          local key, value = string.match(pair, "^%s*([^=]+)=(.*)$")
          table.insert(values, { key = key, value = value })
        end
        table.insert(conditions, { type = "Cookie", cookieConfig = { values = values } })
      else
        for value in string.gmatch(header.value, "[^;]+") do
          table.insert(values, value)
        end
        table.insert(conditions, { type = "Header", headerConfig = { key = header.name, values = values } })
      end
    end
  end
  annotations[prefix .. "conditions." .. obj.canaryService] = json.encode(conditions)
end
return annotations
"#;

fn rollout(class: &str) -> String {
    format!(
        r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: {NAME}
spec:
  workloadRef: {{apiVersion: apps/v1, kind: Deployment, name: echoserver}}
  strategy:
    canary:
      enableExtraWorkloadForCanary: true
      steps:
        - replicas: 1
          matches:
            - headers:
                - {{name: Cookie, value: "demo1=value1;demo2=value2"}}
                - {{name: headername, value: "headervalue1;headervalue2"}}
          pause: {{}}
        - replicas: 50%
          traffic: 30%
          pause: {{}}
        - replicas: 100%
      trafficRoutings:
        - service: echoserver
          ingress: {{classType: {class}, name: echoserver}}
"#
    )
}

#[tokio::test]
async fn a_users_conditions_script_routes_cookie_and_header_matches_then_a_weight() {
    let (client, ns) = release_namespace("lua-user").await;
    let ns = ns.name.clone();
    let class = format!("e2e-conditions-{}", std::process::id());
    set_script(
        &format!("lua.traffic.routing.ingress.{class}"),
        CONDITIONS_SCRIPT,
    );
    let rollout = rollout(&class);
    apply(&ns, &echoserver("version1", 4));
    apply(&ns, &example("echoserver-ingress-nginx.yaml"));
    apply(&ns, &rollout);
    wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    apply(&ns, &echoserver("version2", 4));
    wait_paused(&ns, NAME, 1, 3).await;

    let conditions_key = "alb.ingress.kubernetes.io/conditions.echoserver-canary";
    let annotations = wait_for(
        "the script's conditions on the canary Ingress",
        STEP_DEADLINE,
        || async {
            match canary_annotations(&client, &ns).await {
                Some(found) if found.contains_key(conditions_key) => Ok(found),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let conditions: Value = serde_json::from_str(&annotations[conditions_key]).unwrap();
    assert_eq!(
        conditions,
        json!([
            {"type": "Cookie", "cookieConfig": {"values": [
                {"key": "demo1", "value": "value1"}, {"key": "demo2", "value": "value2"}]}},
            {"type": "Header", "headerConfig": {"key": "headername",
                "values": ["headervalue1", "headervalue2"]}},
        ])
    );
    assert_eq!(
        annotations.get("alb.ingress.kubernetes.io/canary-weight"),
        None
    );

    approve(&ns, NAME);
    wait_paused(&ns, NAME, 2, 3).await;
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("alb.ingress.kubernetes.io/canary", "true"),
            ("alb.ingress.kubernetes.io/canary-weight", "30"),
        ],
    )
    .await;

    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    assert_traffic_cleaned(&client, &ns).await;
}
