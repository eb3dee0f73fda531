//! kubectl-kruise: `kubectl kruise rollout approve|pause|resume|undo|status` for Rollouts of
//! rollouts.kruise.io, with upstream's argument forms. Errors are one line and exit 1.

mod client;
mod commands;
mod render;
mod status;
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
    /// Approve the current step; only a step in StepPaused can be approved.
    Approve(Target),
    /// Pause the release (sets spec.strategy.paused).
    Pause(Target),
    /// Resume a paused release.
    Resume(Target),
    /// Put the workload's pod template back to the stable revision (a rollback).
    Undo(Target),
    /// Show the step, state, message, new pods and the plan.
    Status(StatusArgs),
}

#[derive(Args, Debug)]
struct Target {
    /// rollouts/NAME, rollout/NAME or NAME.
    rollout: String,
    /// Namespace of the Rollout (default: the context's).
    #[arg(short, long)]
    namespace: Option<String>,
    /// Path to the kubeconfig file.
    #[arg(long)]
    kubeconfig: Option<String>,
    /// kubeconfig context to use.
    #[arg(long)]
    context: Option<String>,
}

#[derive(Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    target: Target,
    /// Keep watching: redraw on a terminal, a line per change otherwise; ends when the release
    /// is Healthy and Completed.
    #[arg(short, long)]
    watch: bool,
    /// With --watch, give up after this many seconds (exit 1).
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Command::Rollout { action } = Cli::parse().command;
    match run(action).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

async fn run(action: Action) -> Result<(), client::CliError> {
    let target = match &action {
        Action::Approve(t) | Action::Pause(t) | Action::Resume(t) | Action::Undo(t) => t,
        Action::Status(s) => &s.target,
    };
    let name = target::rollout_name(&target.rollout)?.to_string();
    let conn = client::connect(
        target.kubeconfig.as_deref(),
        target.context.as_deref(),
        target.namespace.as_deref(),
    )
    .await?;
    let said = match &action {
        Action::Approve(_) => commands::approve(&conn, &name).await?,
        Action::Pause(_) => commands::set_paused(&conn, &name, true).await?,
        Action::Resume(_) => commands::set_paused(&conn, &name, false).await?,
        Action::Undo(_) => commands::undo(&conn, &name).await?,
        Action::Status(args) if args.watch => {
            return status::watch(&conn, &name, args.timeout).await;
        }
        Action::Status(_) => render::block(&commands::get(&conn, &name).await?),
    };
    println!("{}", said.trim_end());
    Ok(())
}
