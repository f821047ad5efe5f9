//! A profile document's size budget: what `mlspec validate` and the store read back is bounded
//! (64 MiB, 1,000,000 YAML nodes: `mlspec_spec::validate::Limits`), so a profile never grows
//! past it. The statistics always stay; what can go is mergeable state — first the exact value
//! counts (of slices, then of the whole table; largest first), then the kept extremes (of
//! slices, then of the whole). A feature without its value counts still reports its exact
//! distinct count, and merges by its HyperLogLog sketch; one without its extremes merges into
//! estimated outlier counts without example rows. A profile that does not fit even so (too
//! many slices × features) is refused where it is written.

use std::cmp::Reverse;

use mlspec_spec::kinds::{DataProfileSpec, FeatureStats};
use serde::Serialize;

/// YAML nodes and parser events a profile document may take: 80% of what a reader accepts,
/// the rest left for its metadata and the YAML's own overhead.
pub const MAX_NODES: u64 = 800_000;

/// Bytes of compact JSON a profile document may take: YAML and pretty JSON take up to about
/// 1.5 times as many, below the 64 MiB a reader accepts.
pub const MAX_BYTES: u64 = 40 << 20;

/// A document part's size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    /// YAML parser events: one per scalar (keys too), two per mapping or sequence.
    pub nodes: u64,
    /// Bytes of compact JSON.
    pub bytes: u64,
}

impl Size {
    /// The size of `value` as a document part.
    pub fn of(value: &impl Serialize) -> Size {
        match serde_json::to_value(value) {
            Ok(tree) => Size {
                nodes: nodes(&tree),
                bytes: serde_json::to_vec(&tree).map_or(u64::MAX, |b| b.len() as u64),
            },
            Err(_) => Size {
                nodes: u64::MAX,
                bytes: u64::MAX,
            },
        }
    }

    /// Whether a document of this size fits the budget.
    pub fn fits(&self) -> bool {
        self.nodes <= MAX_NODES && self.bytes <= MAX_BYTES
    }
}

fn nodes(tree: &serde_json::Value) -> u64 {
    match tree {
        serde_json::Value::Array(items) => 2 + items.iter().map(nodes).sum::<u64>(),
        serde_json::Value::Object(fields) => 2 + fields.values().map(|v| 1 + nodes(v)).sum::<u64>(),
        _ => 1,
    }
}

/// What can be left out of a feature's sketch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Values,
    Extremes,
}

/// One droppable part: where it is and what it weighs.
struct Droppable {
    /// Dropping order: values before extremes, slices before the whole table.
    rank: (Part, bool),
    slice: Option<usize>,
    feature: usize,
    part: Part,
    size: Size,
}

/// Leaves mergeable state out of the profile until it fits the budget (or nothing is left to
/// leave out); returns its size.
pub fn fit(spec: &mut DataProfileSpec) -> Size {
    let mut total = Size::of(spec);
    if total.fits() {
        return total;
    }
    let mut parts = Vec::new();
    let tables = std::iter::once((None, &spec.features)).chain(
        spec.slices
            .iter()
            .enumerate()
            .map(|(i, slice)| (Some(i), &slice.features)),
    );
    for (slice, features) in tables {
        for (feature, stats) in features.iter().enumerate() {
            let Some(sketch) = &stats.sketch else { continue };
            let mut add = |part: Part, size: Size| {
                parts.push(Droppable {
                    rank: (part, slice.is_none()),
                    slice,
                    feature,
                    part,
                    size,
                });
            };
            if let Some(values) = &sketch.values {
                add(Part::Values, Size::of(values));
            }
            if !sketch.lows.is_empty() || !sketch.highs.is_empty() {
                let (lows, highs) = (Size::of(&sketch.lows), Size::of(&sketch.highs));
                add(
                    Part::Extremes,
                    Size {
                        nodes: lows.nodes + highs.nodes,
                        bytes: lows.bytes + highs.bytes,
                    },
                );
            }
        }
    }
    parts.sort_by_key(|p| (p.rank, Reverse(p.size.nodes.max(p.size.bytes / 16))));
    for part in parts {
        if total.fits() {
            break;
        }
        let features = match part.slice {
            None => &mut spec.features,
            Some(i) => match spec.slices.get_mut(i) {
                Some(slice) => &mut slice.features,
                None => continue,
            },
        };
        if let Some(sketch) = features
            .get_mut(part.feature)
            .and_then(|f: &mut FeatureStats| f.sketch.as_mut())
        {
            match part.part {
                Part::Values => sketch.values = None,
                Part::Extremes => {
                    sketch.lows.clear();
                    sketch.highs.clear();
                }
            }
            total.nodes = total.nodes.saturating_sub(part.size.nodes);
            total.bytes = total.bytes.saturating_sub(part.size.bytes);
        }
    }
    total
}
