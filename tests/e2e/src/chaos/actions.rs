//! What the soak does to its applications, like a busy team would: new versions (also in the
//! middle of a release), approvals by status patch and by annotation, rollbacks, scaling,
//! disabling and deleting Rollouts. Every change goes through kubectl or the API as a user's would.

use super::apps::{Kind, MANUAL_STEPS};
use super::invariants::{Approval, RolloutView};
use super::ledger::Ledger;
use super::observe;
use super::rng::Rng;
use crate::cluster::cluster;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether the application's Rollout exists and is enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Active,
    Disabled,
    Deleted,
}

/// What the soak applied to one application.
#[derive(Debug)]
pub struct AppState {
    /// The last version released to the end (or applied while no Rollout governed it).
    pub stable: u32,
    /// The version in the workload's spec now.
    pub target: u32,
    /// The revision the Rollout reported while releasing `target`.
    pub target_revision: Option<String>,
    /// The revision the Rollout last reported (see [`note_progress`]).
    pub last_revision: String,
    /// The revision the Rollout reported when `target` was applied: until the controller has
    /// seen `target`, the Rollout may still report it (even finish that earlier release), and
    /// that says nothing about `target`.
    pub superseded_revision: String,
    pub replicas: u32,
    /// `target` is a version whose pods never become Ready.
    pub broken: bool,
    /// The version of each revision the Rollout released (see [`AppState::rollback_target`]).
    pub versions: std::collections::BTreeMap<String, u32>,
    pub rollout: Presence,
}

/// One application of the soak, in a namespace of its own.
pub struct App {
    pub kind: Kind,
    pub namespace: String,
    /// `namespace/chaos`, the key of its Rollout.
    pub key: String,
    pub state: tokio::sync::Mutex<AppState>,
}

static NEXT_VERSION: AtomicU32 = AtomicU32::new(2);

/// A version number never applied before.
pub fn next_version() -> u32 {
    NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
}

async fn kubectl(args: Vec<String>, input: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cluster().kubectl_with_input(&args, &input)
    })
    .await
    .map_err(|e| e.to_string())?
}

impl AppState {
    /// The version a rollback goes back to, while a release runs: the one the pods of the
    /// Rollout's stable revision run (`stable_pods`, read from the cluster), else the one the
    /// soak saw that revision released as; otherwise the last version it saw completed. A release
    /// the soak did not see complete (a newer version came within its last pause) may still have
    /// become the workload's stable version.
    pub fn rollback_target(&self, view: Option<&RolloutView>, stable_pods: Option<u32>) -> u32 {
        let releasing = view.filter(|v| v.phase == "Progressing");
        releasing
            .and(stable_pods)
            .or_else(|| releasing.and_then(|v| self.versions.get(&v.stable_revision).copied()))
            .unwrap_or(self.stable)
    }

    /// Notes that `version` is now in the workload's spec (`broken`: its pods never get Ready).
    pub fn applied(&mut self, version: u32, broken: bool) {
        self.target = version;
        self.target_revision = None;
        self.superseded_revision = self.last_revision.clone();
        self.broken = broken;
    }
}

impl App {
    pub fn new(kind: Kind, namespace: String, replicas: u32) -> Self {
        Self {
            key: format!("{namespace}/chaos"),
            kind,
            namespace,
            state: tokio::sync::Mutex::new(AppState {
                stable: 1,
                target: 1,
                target_revision: None,
                last_revision: String::new(),
                superseded_revision: String::new(),
                replicas,
                broken: false,
                versions: Default::default(),
                rollout: Presence::Active,
            }),
        }
    }

    /// `kubectl apply` of the workload at `version`.
    pub async fn apply(
        &self,
        version: u32,
        replicas: u32,
        not_ready: bool,
    ) -> Result<String, String> {
        let args = ["apply", "-n", &self.namespace, "-f", "-"]
            .map(String::from)
            .to_vec();
        kubectl(args, self.kind.workload_yaml(version, replicas, not_ready)).await
    }

    pub async fn apply_rollout(&self) -> Result<String, String> {
        let args = ["apply", "-n", &self.namespace, "-f", "-"]
            .map(String::from)
            .to_vec();
        kubectl(args, self.kind.rollout_yaml()).await
    }

    pub async fn delete_rollout(&self) -> Result<String, String> {
        let args = [
            "delete",
            "rollout",
            "chaos",
            "-n",
            &self.namespace,
            "--wait=false",
        ];
        kubectl(args.map(String::from).to_vec(), String::new()).await
    }

    pub async fn set_disabled(&self, disabled: bool) -> Result<String, String> {
        let patch = json!({"spec": {"disabled": disabled}}).to_string();
        let args = [
            "patch",
            "rollout",
            "chaos",
            "-n",
            &self.namespace,
            "--type=merge",
            "-p",
            &patch,
        ];
        kubectl(args.map(String::from).to_vec(), String::new()).await
    }

    /// Releases a new version (in the middle of a release too: a continuous release).
    pub async fn release(
        &self,
        st: &mut AppState,
        ledger: &Ledger,
        not_ready: bool,
    ) -> Result<(), String> {
        let version = next_version();
        self.apply(version, st.replicas, not_ready).await?;
        ledger.action(
            &self.key,
            if not_ready {
                "release not-Ready pods"
            } else {
                "release"
            },
            true,
        );
        st.applied(version, not_ready);
        ledger.history(
            &self.key,
            &format!("applied v{version} (stable v{})", st.stable),
        );
        Ok(())
    }

    /// Re-applies the stable version: the fast way back.
    pub async fn roll_back(
        &self,
        client: &Client,
        st: &mut AppState,
        ledger: &Ledger,
    ) -> Result<(), String> {
        let view = observe::rollout(client, &self.namespace)
            .await
            .map_err(|e| e.to_string())?;
        // Canary-style Deployments report their stable revision as a pod-template-hash, which is
        // never a canary revision the soak saw: the stable pods themselves say their version.
        let stable_pods = match &view {
            Some(v) => {
                observe::version_of_revision(client, &self.namespace, &v.stable_revision).await
            }
            None => None,
        };
        let stable = st.rollback_target(view.as_ref(), stable_pods);
        self.apply(stable, st.replicas, false).await?;
        ledger.action(&self.key, "rollback", true);
        ledger.history(&self.key, &format!("applied stable v{stable} again"));
        st.stable = stable;
        st.target = stable;
        st.target_revision = None;
        st.broken = false;
        Ok(())
    }

    /// Approves the paused step of `view` (status patch, or the annotation with `annotation`),
    /// only if the Rollout is still as observed.
    pub async fn approve(
        &self,
        client: &Client,
        view: &RolloutView,
        ledger: &Ledger,
        annotation: bool,
    ) -> Result<(), String> {
        let api: Api<Rollout> = Api::namespaced(client.clone(), &self.namespace);
        let rv = view.resource_version.to_string();
        ledger.approving(&view.uid, &view.revision, view.step);
        let written = if annotation {
            let patch = json!({"metadata": {"resourceVersion": rv, "annotations": {keys::APPROVED_STEP: view.step.to_string()}}});
            api.patch("chaos", &PatchParams::default(), &Patch::Merge(&patch))
                .await
        } else {
            let patch = json!({"metadata": {"resourceVersion": rv}, "status": {"canaryStatus": {"currentStepState": "StepReady"}}});
            api.patch_status("chaos", &PatchParams::default(), &Patch::Merge(&patch))
                .await
        };
        let written = written.map_err(|e| e.to_string())?;
        ledger.history(
            &self.key,
            &format!("approved step {} of revision {}", view.step, view.revision),
        );
        ledger.approved(Approval {
            key: self.key.clone(),
            uid: view.uid.clone(),
            revision: view.revision.clone(),
            step: view.step,
            resource_version: observe::rollout_view(&written).resource_version,
        });
        Ok(())
    }

    /// One random action suited to the Rollout's state; errors (a fault in progress) just skip it.
    pub async fn act(&self, client: &Client, rng: &mut Rng, ledger: &Ledger) {
        let Ok(mut st) = self.state.try_lock() else {
            return;
        };
        let view = match observe::rollout(client, &self.namespace).await {
            Ok(view) => view,
            Err(_) => return,
        };
        if let (Presence::Active, Some(view)) = (st.rollout, &view) {
            note_progress(&mut st, view, self.rolled_out(client).await, ledger);
        }
        let _ = self.act_on(client, rng, ledger, &mut st, view).await;
    }

    /// Whether every pod of the workload runs its current template (false when unknown).
    pub async fn rolled_out(&self, client: &Client) -> bool {
        observe::workload(client, &self.namespace, self.kind)
            .await
            .ok()
            .flatten()
            .is_some_and(|w| w.rolled_out)
    }

    async fn act_on(
        &self,
        client: &Client,
        rng: &mut Rng,
        ledger: &Ledger,
        st: &mut AppState,
        view: Option<RolloutView>,
    ) -> Result<(), String> {
        match (st.rollout, view) {
            (Presence::Deleted, None) => {
                self.apply_rollout().await?;
                ledger.action(&self.key, "re-create Rollout", true);
                st.rollout = Presence::Active;
            }
            (Presence::Disabled, Some(_)) if rng.chance(40) => {
                self.set_disabled(false).await?;
                ledger.action(&self.key, "enable", true);
                st.rollout = Presence::Active;
            }
            (Presence::Active, Some(view)) => {
                self.act_on_active(client, rng, ledger, st, &view).await?
            }
            _ => {}
        }
        Ok(())
    }

    async fn act_on_active(
        &self,
        client: &Client,
        rng: &mut Rng,
        ledger: &Ledger,
        st: &mut AppState,
        view: &RolloutView,
    ) -> Result<(), String> {
        if st.broken {
            return Ok(());
        }
        let manual_pause = view.phase == "Progressing"
            && view.state == "StepPaused"
            && MANUAL_STEPS.contains(&view.step);
        if view.phase == "Healthy" {
            match rng.weighted(&[50, 10, 6, 4, 30]) {
                0 => self.release(st, ledger, false).await?,
                1 => self.scale(st, rng, ledger).await?,
                2 => {
                    self.set_disabled(true).await?;
                    ledger.action(&self.key, "disable", true);
                    st.rollout = Presence::Disabled;
                }
                3 => {
                    self.delete_rollout().await?;
                    ledger.action(&self.key, "delete Rollout", true);
                    st.rollout = Presence::Deleted;
                }
                _ => {}
            }
        } else if manual_pause {
            match rng.weighted(&[55, 25, 7, 8, 5]) {
                0 => self.approve(client, view, ledger, false).await?,
                1 => self.approve(client, view, ledger, true).await?,
                2 => self.roll_back(client, st, ledger).await?,
                3 => self.release(st, ledger, false).await?,
                _ => {}
            }
        } else if view.phase == "Progressing" {
            match rng.weighted(&[4, 4, 3, 89]) {
                0 => self.roll_back(client, st, ledger).await?,
                1 => self.release(st, ledger, false).await?,
                2 => self.scale(st, rng, ledger).await?,
                _ => {}
            }
        }
        Ok(())
    }

    async fn scale(&self, st: &mut AppState, rng: &mut Rng, ledger: &Ledger) -> Result<(), String> {
        let replicas = 3 + rng.below(4) as u32;
        self.apply(st.target, replicas, st.broken).await?;
        ledger.action(&self.key, "scale", true);
        ledger.history(
            &self.key,
            &format!("applied v{} with {replicas} replicas", st.target),
        );
        st.replicas = replicas;
        Ok(())
    }
}

/// Counts a release as completed once the Rollout is Healthy at the revision it released and the
/// workload's pods all run it (`rolled_out`): a Rollout completes when it gives the workload back,
/// and a canary-style Deployment replaces its stable pods only after that. Until then the old
/// version is still the one the controller rolls back to.
pub fn note_progress(st: &mut AppState, view: &RolloutView, rolled_out: bool, ledger: &Ledger) {
    st.last_revision = view.revision.clone();
    if view.phase == "Progressing"
        && !view.revision.is_empty()
        && view.revision != st.superseded_revision
        && st.target != st.stable
    {
        st.target_revision = Some(view.revision.clone());
        st.versions.insert(view.revision.clone(), st.target);
    }
    let released = st.target_revision.as_deref() == Some(view.revision.as_str());
    if view.phase == "Healthy" && view.state == "Completed" && released && rolled_out && !st.broken
    {
        st.stable = st.target;
        st.target_revision = None;
        ledger.release_completed();
        ledger.history(
            &view.key,
            &format!(
                "v{} released to the end (revision {})",
                st.stable, view.revision
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(phase: &str, state: &str, revision: &str) -> RolloutView {
        RolloutView {
            phase: phase.into(),
            state: state.into(),
            revision: revision.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_release_finished_before_the_controller_saw_the_next_version_is_not_the_next_one() {
        let ledger = Ledger::default();
        let app = App::new(Kind::StatefulSet, "ns".into(), 3);
        let mut st = app.state.try_lock().expect("unlocked");
        note_progress(
            &mut st,
            &view("Healthy", "Completed", "rev-1"),
            true,
            &ledger,
        );
        st.applied(2, false);
        note_progress(
            &mut st,
            &view("Progressing", "StepPaused", "rev-2"),
            true,
            &ledger,
        );
        st.applied(3, false);
        // Still version 2's release, finished before the controller saw version 3.
        note_progress(
            &mut st,
            &view("Progressing", "StepUpgrade", "rev-2"),
            true,
            &ledger,
        );
        note_progress(
            &mut st,
            &view("Healthy", "Completed", "rev-2"),
            true,
            &ledger,
        );
        assert_eq!(st.stable, 1, "version 3 was never released");
        note_progress(
            &mut st,
            &view("Progressing", "StepPaused", "rev-3"),
            true,
            &ledger,
        );
        note_progress(
            &mut st,
            &view("Healthy", "Completed", "rev-3"),
            true,
            &ledger,
        );
        assert_eq!(st.stable, 3);
    }

    #[test]
    fn a_rollback_goes_to_the_version_the_running_release_started_from() {
        let ledger = Ledger::default();
        let app = App::new(Kind::StatefulSet, "ns".into(), 3);
        let mut st = app.state.try_lock().expect("unlocked");
        st.applied(2, false);
        note_progress(
            &mut st,
            &view("Progressing", "StepPaused", "rev-2"),
            true,
            &ledger,
        );
        // Version 3 came before the soak saw version 2 complete; the controller finished it.
        st.applied(3, false);
        let mut releasing_3 = view("Progressing", "StepPaused", "rev-3");
        releasing_3.stable_revision = "rev-2".into();
        note_progress(&mut st, &releasing_3, true, &ledger);
        assert_eq!(st.stable, 1, "the soak never saw version 2 complete");
        assert_eq!(st.rollback_target(Some(&releasing_3), None), 2);
        let mut unknown = releasing_3.clone();
        unknown.stable_revision = "rev-never-seen".into();
        assert_eq!(st.rollback_target(Some(&unknown), None), 1);
        assert_eq!(
            st.rollback_target(Some(&unknown), Some(2)),
            2,
            "the stable pods say their version even for a revision the soak never saw"
        );
        assert_eq!(st.rollback_target(None, Some(2)), 1, "no release runs");
        assert_eq!(st.rollback_target(None, None), 1);
    }

    #[test]
    fn a_completed_release_is_the_rollback_target_only_once_every_pod_runs_it() {
        let ledger = Ledger::default();
        let app = App::new(Kind::DeploymentCanary, "ns".into(), 3);
        let mut st = app.state.try_lock().expect("unlocked");
        st.applied(2, false);
        let releasing = view("Progressing", "StepPaused", "rev-2");
        note_progress(&mut st, &releasing, false, &ledger);
        let completed = view("Healthy", "Completed", "rev-2");
        note_progress(&mut st, &completed, false, &ledger);
        assert_eq!(st.stable, 1, "given back, its stable pods not replaced yet");
        note_progress(&mut st, &completed, true, &ledger);
        assert_eq!(st.stable, 2);

        st.applied(3, false);
        note_progress(
            &mut st,
            &view("Progressing", "StepPaused", "rev-3"),
            false,
            &ledger,
        );
        note_progress(
            &mut st,
            &view("Healthy", "Completed", "rev-3"),
            false,
            &ledger,
        );
        st.applied(4, false);
        note_progress(
            &mut st,
            &view("Healthy", "Completed", "rev-3"),
            true,
            &ledger,
        );
        assert_eq!(st.stable, 2, "version 4 came before the pods ran version 3");
    }
}
