//! `mlspec rollout promote|abort|status ADDR`: an operator's hand on a gateway's rollout.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// End the current step well: the next step's share, or (after the last) the canary
    /// becomes the package in service.
    Promote(Target),
    /// Fail the current step: all traffic back to the previous package.
    Abort(Target),
    /// The rollout as it stands: its steps, their results and observations.
    Status(Target),
}

#[derive(clap::Args)]
struct Target {
    /// The gateway's address (HOST:PORT, as `mlspec serve --listen` took it).
    addr: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (target, method, path) = match &args.command {
        Command::Promote(t) => (t, "POST", "/_mlspec/rollout/promote"),
        Command::Abort(t) => (t, "POST", "/_mlspec/rollout/abort"),
        Command::Status(t) => (t, "GET", "/_mlspec/rollout"),
    };
    let addr = target.addr.trim_start_matches("http://").trim_end_matches('/');
    let timeout = Duration::from_secs(10);
    let response = match method {
        "POST" => mlspec_server::probe::post(addr, path, b"", timeout),
        _ => mlspec_server::probe::get(addr, path, timeout),
    }
    .with_context(|| format!("cannot reach the gateway at {addr}: is `mlspec serve` running there?"))?;
    let body: serde_json::Value = serde_json::from_str(&response.body).with_context(|| {
        format!(
            "{addr} answered {} with something other than JSON: is it a gateway?",
            response.status
        )
    })?;
    if response.status != 200 {
        let reason = body["error"].as_str().unwrap_or("no reason given");
        bail!("{addr} refused: {reason} (HTTP {})", response.status);
    }
    outln!("{}", summary(&body));
    Ok(ExitCode::SUCCESS)
}

/// `rollout NAME: step I of N, OUTCOME` and one line per step.
fn summary(status: &serde_json::Value) -> String {
    let spec = &status["spec"];
    let mut out = format!(
        "rollout {} of {}: step {} of {}, {}",
        status["name"].as_str().unwrap_or("?"),
        spec["package"].as_str().unwrap_or("?"),
        status["step"],
        status["steps"],
        spec["outcome"].as_str().unwrap_or("?"),
    );
    for (i, step) in spec["steps"].as_array().into_iter().flatten().enumerate() {
        let observed: Vec<String> = step["observations"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| format!("{key} {}", number(value)))
            .collect();
        out.push_str(&format!(
            "\n  {}. {}% for {}: {}{}{}",
            i + 1,
            number(&step["trafficPercent"]),
            step["duration"].as_str().unwrap_or("?"),
            step["result"].as_str().unwrap_or("?"),
            step["decidedBy"]
                .as_str()
                .map(|by| format!(" ({by})"))
                .unwrap_or_default(),
            if observed.is_empty() {
                String::new()
            } else {
                format!("; {}", observed.join(", "))
            },
        ));
    }
    out
}

/// A JSON number as people write it (`20`, `0.25`).
fn number(value: &serde_json::Value) -> String {
    value.as_f64().map_or_else(|| value.to_string(), |n| format!("{n}"))
}
