//! Traffic routing: names of the objects a release creates next to the user's. Providers
//! (Nginx, MSE, Gateway API) are the traffic-routing issue's work.

use rollouts_api::keys::CANARY_SUFFIX;

/// Name of the canary Service (or canary Ingress) made for `stable`.
pub fn canary_name(stable: &str) -> String {
    format!("{stable}{CANARY_SUFFIX}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn canary_objects_are_named_after_the_stable_ones() {
        assert_eq!(super::canary_name("echoserver"), "echoserver-canary");
    }
}
