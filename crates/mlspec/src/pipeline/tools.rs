//! The versions of the tools modules declare (`implementation.tools`): each version command run
//! once per pipeline run, its first line kept for the record and the steps' cache keys.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mlspec_pipeline::Plan;

/// How long a version command may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Each module's tools and their versions (by module index); a tool whose version cannot be
/// read stops the run before any step starts.
pub async fn versions(plan: &Plan) -> anyhow::Result<Vec<BTreeMap<String, String>>> {
    let mut known: BTreeMap<Vec<String>, String> = BTreeMap::new();
    let mut per_module = Vec::with_capacity(plan.modules.len());
    for module in &plan.modules {
        let mut versions = BTreeMap::new();
        for tool in &module.spec().implementation.tools {
            let version = match known.get(&tool.version_command) {
                Some(version) => version.clone(),
                None => {
                    let version = version_of(&tool.version_command).await.with_context(|| {
                        format!(
                            "module `{}`: the version of tool `{}` (`{}`)",
                            module.document.metadata.name,
                            tool.name,
                            tool.version_command.join(" ")
                        )
                    })?;
                    known.insert(tool.version_command.clone(), version.clone());
                    version
                }
            };
            versions.insert(tool.name.to_string(), version);
        }
        per_module.push(versions);
    }
    Ok(per_module)
}

/// The first non-empty line `command` prints (on stdout, else stderr, where some tools print it).
async fn version_of(command: &[String]) -> anyhow::Result<String> {
    let Some((program, args)) = command.split_first() else {
        bail!("the command is empty");
    };
    let run = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(VERSION_TIMEOUT, run)
        .await
        .map_err(|_| anyhow::anyhow!("it did not answer within {} s", VERSION_TIMEOUT.as_secs()))?
        .context("it could not be started")?;
    if !out.status.success() {
        bail!("it exited with {}", out.status);
    }
    let first_line = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.chars().take(200).collect::<String>())
    };
    first_line(&out.stdout)
        .or_else(|| first_line(&out.stderr))
        .context("it printed nothing")
}
