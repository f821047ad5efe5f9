//! The step cache: a step's cache key looked up through the store's field index (a Run's
//! `spec.cacheKey` is an indexed field), newest finished run first. A hit is only a hit when every
//! output that run recorded is still where it was written with the digest it had; anything else
//! is a miss, and says why.

use anyhow::Context as _;
use mlspec_spec::expr::query::{parse_filter, parse_order};
use mlspec_spec::kinds::RunStatus;
use mlspec_spec::newtypes::Digest;
use mlspec_spec::{Kind, ObjectId, Ref, Spec};
use mlspec_store::{ListQuery, Selector, Store};

use super::execute::{OutputSlot, WrittenOutput};

/// Finished runs with the key looked at before giving up (older ones are likelier gone too).
const CANDIDATES: u32 = 5;

/// What the cache answered.
pub enum Lookup {
    /// A run whose outputs can be reused as they are.
    Hit(Hit),
    /// Nothing reusable; why, when a candidate was found and refused.
    Miss(Option<String>),
}

/// A reusable earlier run.
pub struct Hit {
    /// The run that produced the outputs (for a cached run, the one it reused).
    pub original: ObjectId,
    /// Its Artifacts.
    pub artifacts: Vec<Ref>,
    /// Its outputs, checked.
    pub outputs: Vec<WrittenOutput>,
}

/// Looks `key` up.
pub async fn lookup(store: &dyn Store, key: &Digest, slots: &[OutputSlot]) -> anyhow::Result<Lookup> {
    let mut query = ListQuery::new(Kind::Run);
    query.filter = Some(
        parse_filter(&format!("spec.cacheKey = \"{key}\" and spec.status = \"Finished\""))
            .map_err(|_| anyhow::anyhow!("cannot express the cache lookup for {key}"))?,
    );
    query.order = Some(parse_order("created desc").map_err(anyhow::Error::msg)?);
    query.limit = Some(CANDIDATES);
    let candidates = store.list(&query).await.context("the cache lookup failed")?;
    let mut refused = None;
    for candidate in candidates {
        let id: ObjectId = candidate.id.parse().context("the store returned a malformed id")?;
        let stored = store.get(&Selector::Id(id.clone())).await?;
        let Spec::Run(run) = &stored.document.spec else {
            continue;
        };
        if run.status != RunStatus::Finished {
            continue;
        }
        match reusable(run, slots) {
            Ok(outputs) => {
                let original = match &run.cached_from {
                    Some(Ref {
                        target: mlspec_spec::RefTarget::Id(original),
                        ..
                    }) => original.clone(),
                    _ => id,
                };
                return Ok(Lookup::Hit(Hit {
                    original,
                    artifacts: run.outputs.clone(),
                    outputs,
                }));
            }
            Err(why) => {
                refused.get_or_insert_with(|| format!("run {}: {why}", candidate.name));
            }
        }
    }
    Ok(Lookup::Miss(refused))
}

/// The outputs `run` recorded, each checked on disk against its digest.
fn reusable(run: &mlspec_spec::kinds::RunSpec, slots: &[OutputSlot]) -> Result<Vec<WrittenOutput>, String> {
    let tag = |name: &str, part: &str| {
        run.tags
            .0
            .iter()
            .find(|(k, _)| k.as_str() == format!("mlspec.output.{name}.{part}"))
            .map(|(_, v)| v.clone())
    };
    let mut outputs = Vec::new();
    for slot in slots {
        let (Some(path), Some(digest)) = (tag(slot.name.as_str(), "path"), tag(slot.name.as_str(), "digest")) else {
            if slot.optional {
                continue;
            }
            return Err(format!("it recorded no output `{}`", slot.name));
        };
        let digest: Digest = digest
            .parse()
            .map_err(|_| format!("output `{}` has a malformed digest", slot.name))?;
        let path = std::path::PathBuf::from(path);
        match super::files::content_digest(&path) {
            Ok(found) if found == digest => outputs.push(WrittenOutput {
                name: slot.name.clone(),
                path,
                digest,
                artifact: tag(slot.name.as_str(), "artifact").and_then(|id| id.parse().ok()),
            }),
            Ok(found) => {
                return Err(format!(
                    "output `{}` at {} was modified (recorded {digest}, now {found})",
                    slot.name,
                    path.display()
                ));
            }
            Err(error) => return Err(format!("output `{}` is gone: {error:#}", slot.name)),
        }
    }
    Ok(outputs)
}

/// Records each output's path, digest and Artifact in the Run's tags (`mlspec.output.NAME.path`,
/// `.digest`, `.artifact`), where a later lookup reads them.
pub fn tag_outputs(tags: &mut mlspec_spec::values::Tags, outputs: &[WrittenOutput]) -> anyhow::Result<()> {
    use mlspec_spec::newtypes::Key;
    for output in outputs {
        let mut put = |part: &str, value: String| -> anyhow::Result<()> {
            tags.0
                .insert(Key::new(format!("mlspec.output.{}.{part}", output.name))?, value);
            Ok(())
        };
        put("path", output.path.display().to_string())?;
        put("digest", output.digest.to_string())?;
        if let Some(artifact) = &output.artifact {
            put("artifact", artifact.to_string())?;
        }
    }
    Ok(())
}
