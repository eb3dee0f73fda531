//! kubectl-kruise: parses `rollout <action> <rollout>` as upstream's CLI does. Talking to the
//! cluster is not built yet (plugin issue); until then each action says so and exits non-zero.

mod target;

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

/// kubectl plugin for Kruise Rollouts.
#[derive(Parser, Debug)]
#[command(name = "kubectl-kruise", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage Rollouts.
    Rollout {
        #[command(subcommand)]
        action: Action,
    },
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Approve the current paused step.
    Approve(Target),
    /// Pause the release (spec.strategy.paused).
    Pause(Target),
    /// Resume a paused release.
    Resume(Target),
    /// Roll the workload back to its stable revision.
    Undo(Target),
    /// Show the current step, state and message.
    Status(Target),
}

#[derive(Args, Debug)]
struct Target {
    /// rollouts/NAME, rollout/NAME or NAME.
    rollout: String,
    /// Namespace of the Rollout.
    #[arg(short, long)]
    namespace: Option<String>,
    /// Path to the kubeconfig file.
    #[arg(long)]
    kubeconfig: Option<String>,
    /// kubeconfig context to use.
    #[arg(long)]
    context: Option<String>,
}

fn main() -> ExitCode {
    let Command::Rollout { action } = Cli::parse().command;
    let (verb, target) = match &action {
        Action::Approve(t) => ("approve", t),
        Action::Pause(t) => ("pause", t),
        Action::Resume(t) => ("resume", t),
        Action::Undo(t) => ("undo", t),
        Action::Status(t) => ("status", t),
    };
    match target::rollout_name(&target.rollout) {
        Ok(name) => {
            eprintln!("error: `rollout {verb}` of {name} is not implemented yet in this build");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
