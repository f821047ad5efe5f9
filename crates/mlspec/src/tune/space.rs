//! The search space: each hyperparameter's domain, read from a YAML file in the Training
//! document's own terms (`search.space`), checked, and turned into values.
//!
//! ```yaml
//! C: {min: 0.001, max: 1000, log: true}        # a continuous range, sampled on a log scale
//! max_depth: {min: 2, max: 12, step: 1}         # integers 2, 3, …, 12
//! solver: {choices: [lbfgs, saga]}              # one of a list
//! ```
//!
//! Samplers work in each parameter's *coordinate*: the index of a choice, the number of steps
//! above `min` for a stepped range, the value (or its logarithm, for `log: true`) for a
//! continuous one. [`Domain::value`] turns a coordinate into the value a trial gets, and
//! [`Domain::coordinate`] a recorded value back (for resuming a search).

use std::path::Path;

use anyhow::{Context as _, bail};
use mlspec_spec::kinds::SearchDomain;
use mlspec_spec::newtypes::Key;
use mlspec_spec::values::{ParamValue, UniqueMap};

/// The most points a grid may have: beyond it, a grid search never ends in practice.
const MAX_GRID_POINTS: u64 = 1_000_000_000;

/// A checked search space, parameters in name order.
#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    pub params: Vec<(Key, Domain)>,
}

/// The values one hyperparameter may take.
#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    /// One of these.
    Choices(Vec<ParamValue>),
    /// `min`, `min + step`, … up to `max` (on a log scale: sampled by the logarithm, then
    /// rounded to the step).
    Stepped { min: f64, step: f64, count: u64, log: bool },
    /// Any number in `[min, max]`.
    Continuous { min: f64, max: f64, log: bool },
}

impl Space {
    /// Reads the space file at `path`.
    pub fn read(path: &Path) -> anyhow::Result<Space> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the search space {}", path.display()))?;
        Space::parse(&text).with_context(|| format!("search space {}", path.display()))
    }

    /// Parses and checks a space file's text.
    pub fn parse(text: &str) -> anyhow::Result<Space> {
        let raw: UniqueMap<Key, SearchDomain> = serde_saphyr::from_str(text).map_err(|e| {
            let at = e
                .location()
                .filter(|l| l.line() > 0)
                .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
                .unwrap_or_default();
            anyhow::anyhow!(
                "{at}{}\n  hint: a search space maps each parameter to `{{choices: [...]}}` or `{{min: A, max: B}}` (with `log: true` and `step: S` optional); quote choices YAML reads as booleans (`\"yes\"`, `\"no\"`, `\"on\"`, `\"y\"`); see docs/tune.md",
                mlspec_spec::validate::yaml_message(&e)
            )
        })?;
        if raw.0.is_empty() {
            bail!("the search space names no parameter\n  hint: e.g. `C: {{min: 0.01, max: 100, log: true}}`");
        }
        let params = raw
            .0
            .into_iter()
            .map(|(key, domain)| {
                let checked = Domain::check(&domain).with_context(|| format!("parameter `{key}`"))?;
                Ok((key, checked))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Space { params })
    }

    /// The domains as the Training document records them.
    pub fn recorded(&self) -> UniqueMap<Key, SearchDomain> {
        UniqueMap(self.params.iter().map(|(k, d)| (k.clone(), d.recorded())).collect())
    }

    /// How many points a grid search visits, or why it cannot.
    pub fn grid_size(&self) -> anyhow::Result<u64> {
        let mut size: u64 = 1;
        for (key, domain) in &self.params {
            let count = match domain {
                Domain::Choices(choices) => choices.len() as u64,
                Domain::Stepped { count, .. } => *count,
                Domain::Continuous { .. } => bail!(
                    "a grid search needs a finite domain, and `{key}` is a continuous range\n  hint: give it a `step`, or list its `choices`"
                ),
            };
            size = size.saturating_mul(count);
        }
        if size > MAX_GRID_POINTS {
            bail!(
                "the grid has {size} points, more than {MAX_GRID_POINTS}\n  hint: coarsen the steps, or use --sampler random or tpe"
            );
        }
        Ok(size)
    }

    /// The grid's point number `index` (0-based, the last parameter varying fastest), as
    /// coordinates.
    pub fn grid_point(&self, mut index: u64) -> Vec<f64> {
        let mut coordinates = vec![0.0; self.params.len()];
        for (slot, (_, domain)) in coordinates.iter_mut().zip(&self.params).rev() {
            let count = domain.finite_count().unwrap_or(1).max(1);
            *slot = (index % count) as f64;
            index /= count;
        }
        coordinates
    }
}

impl Domain {
    fn check(domain: &SearchDomain) -> anyhow::Result<Domain> {
        match (&domain.choices[..], domain.min, domain.max) {
            ([], Some(min), Some(max)) => Domain::range(min, max, domain.log, domain.step),
            ([], _, _) => bail!("give either `choices` or both `min` and `max`"),
            (choices, None, None) => {
                if domain.log || domain.step.is_some() {
                    bail!("`log` and `step` apply to a range, not to `choices`");
                }
                if let Some((i, repeated)) = choices.iter().enumerate().find(|(i, c)| choices[..*i].contains(c)) {
                    bail!(
                        "choice {} repeats an earlier one ({})",
                        i + 1,
                        mlspec_pipeline::param_text(repeated)
                    );
                }
                Ok(Domain::Choices(choices.to_vec()))
            }
            _ => bail!("give either `choices` or `min` and `max`, not both"),
        }
    }

    fn range(min: f64, max: f64, log: bool, step: Option<f64>) -> anyhow::Result<Domain> {
        if !min.is_finite() || !max.is_finite() {
            bail!("`min` and `max` must be finite numbers");
        }
        if min > max {
            bail!("`max` ({max}) is less than `min` ({min})");
        }
        if log && min <= 0.0 {
            bail!("a `log` range must be above 0, and `min` is {min}");
        }
        match step {
            None => Ok(Domain::Continuous { min, max, log }),
            Some(step) if !(step.is_finite() && step > 0.0) => bail!("`step` must be a number above 0, not {step}"),
            Some(step) => {
                let steps = ((max - min) / step + 1e-9).floor();
                if steps >= MAX_GRID_POINTS as f64 {
                    bail!("the range has more than {MAX_GRID_POINTS} steps\n  hint: use a larger `step`, or none");
                }
                Ok(Domain::Stepped {
                    min,
                    step,
                    count: steps as u64 + 1,
                    log,
                })
            }
        }
    }

    /// The domain as the Training document records it.
    fn recorded(&self) -> SearchDomain {
        let mut recorded = SearchDomain {
            choices: Vec::new(),
            min: None,
            max: None,
            log: false,
            step: None,
        };
        match self {
            Domain::Choices(choices) => recorded.choices = choices.clone(),
            Domain::Stepped { min, step, count, log } => {
                recorded.min = Some(*min);
                recorded.max = Some(Domain::stepped_value(*min, *step, count - 1));
                recorded.step = Some(*step);
                recorded.log = *log;
            }
            Domain::Continuous { min, max, log } => {
                recorded.min = Some(*min);
                recorded.max = Some(*max);
                recorded.log = *log;
            }
        }
        recorded
    }

    /// How many values the domain has, when finite.
    pub fn finite_count(&self) -> Option<u64> {
        match self {
            Domain::Choices(choices) => Some(choices.len() as u64),
            Domain::Stepped { count, .. } => Some(*count),
            Domain::Continuous { .. } => None,
        }
    }

    /// The coordinates a sampler draws from: `[start, end)`; `None` for a domain of one value.
    pub fn coordinate_range(&self) -> Option<(f64, f64)> {
        let range = match self {
            Domain::Choices(choices) => (0.0, choices.len() as f64),
            Domain::Stepped { count, .. } => (0.0, *count as f64),
            Domain::Continuous { min, max, log: true } => (min.ln(), max.ln()),
            Domain::Continuous { min, max, log: false } => (*min, *max),
        };
        (range.0 < range.1).then_some(range)
    }

    /// A coordinate drawn uniformly (log-uniformly for a stepped log range).
    pub fn sample(&self, rng: &mut impl rand::Rng) -> f64 {
        use rand::RngExt as _;
        match (self, self.coordinate_range()) {
            (_, None) => 0.0,
            (
                Domain::Stepped {
                    min,
                    step,
                    count,
                    log: true,
                },
                _,
            ) => {
                let (low, high) = (min.ln(), Domain::stepped_value(*min, *step, count - 1).ln());
                let value = rng.random_range(low..=high).exp();
                ((value - min) / step).round().clamp(0.0, (count - 1) as f64)
            }
            (Domain::Choices(_) | Domain::Stepped { .. }, Some((_, end))) => rng.random_range(0..end as u64) as f64,
            (Domain::Continuous { .. }, Some((start, end))) => rng.random_range(start..=end),
        }
    }

    /// The value at `coordinate`.
    pub fn value(&self, coordinate: f64) -> ParamValue {
        match self {
            Domain::Choices(choices) => {
                let index = (coordinate.max(0.0) as usize).min(choices.len().saturating_sub(1));
                choices.get(index).cloned().unwrap_or(ParamValue::Number(0.0))
            }
            Domain::Stepped { min, step, count, .. } => {
                let index = (coordinate.max(0.0) as u64).min(count - 1);
                ParamValue::Number(Domain::stepped_value(*min, *step, index))
            }
            Domain::Continuous { min, max, log } => {
                let value = if *log { coordinate.exp() } else { coordinate };
                ParamValue::Number(value.clamp(*min, *max))
            }
        }
    }

    /// The coordinate of a recorded `value`, when the domain holds it.
    pub fn coordinate(&self, value: &ParamValue) -> Option<f64> {
        match (self, value) {
            (Domain::Choices(choices), value) => choices.iter().position(|c| c == value).map(|i| i as f64),
            (Domain::Stepped { min, step, count, .. }, ParamValue::Number(n)) => {
                let index = ((n - min) / step).round();
                (index >= 0.0 && index < *count as f64).then_some(index)
            }
            (Domain::Continuous { min, max, log }, ParamValue::Number(n)) if (*min..=*max).contains(n) => {
                Some(if *log { n.ln() } else { *n })
            }
            _ => None,
        }
    }

    /// `min + index × step`, rounded to the step's decimals so that 0.1 × 3 is 0.3.
    fn stepped_value(min: f64, step: f64, index: u64) -> f64 {
        let value = min + index as f64 * step;
        let decimals = [min, step]
            .iter()
            .map(|n| format!("{n}").split_once('.').map_or(0, |(_, fraction)| fraction.len()))
            .max()
            .unwrap_or(0)
            .min(15) as i32;
        let scale = 10f64.powi(decimals);
        (value * scale).round() / scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(value: &ParamValue) -> f64 {
        match value {
            ParamValue::Number(n) => *n,
            ParamValue::String(s) => panic!("{s} is not a number"),
        }
    }

    #[test]
    fn parses_the_three_forms() {
        let space = Space::parse("C: {min: 0.001, max: 1000, log: true}\ndepth: {min: 2, max: 12, step: 1}\nsolver: {choices: [lbfgs, saga]}\n").unwrap();
        let names: Vec<&str> = space.params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["C", "depth", "solver"]);
        assert!(
            space
                .grid_size()
                .unwrap_err()
                .to_string()
                .contains("`C` is a continuous range")
        );
        assert_eq!(
            space.params[1].1,
            Domain::Stepped {
                min: 2.0,
                step: 1.0,
                count: 11,
                log: false
            }
        );
    }

    #[test]
    fn refuses_bad_domains_naming_the_parameter() {
        for (text, expected) in [
            ("a: {min: 1}", "give either `choices` or both `min` and `max`"),
            ("a: {min: 3, max: 1}", "`max` (1) is less than `min` (3)"),
            ("a: {min: 0, max: 1, log: true}", "must be above 0"),
            ("a: {min: 0, max: 1, step: 0}", "`step` must be a number above 0"),
            ("a: {choices: [x], min: 0, max: 1}", "not both"),
            ("a: {choices: [x], log: true}", "apply to a range"),
            ("a: {choices: [p, q, p]}", "choice 3 repeats an earlier one (p)"),
            ("a: {choices: [yes, no]}", "quote"),
            ("a: {mn: 1, max: 2}", "unknown field"),
            ("{}", "names no parameter"),
            ("a: [1, 2]", "line 1"),
        ] {
            let error = format!("{:#}", Space::parse(text).unwrap_err());
            assert!(error.contains(expected), "{text}: {error}");
        }
        let error = format!("{:#}", Space::parse("lr: {min: 3, max: 1}").unwrap_err());
        assert!(error.contains("parameter `lr`"), "{error}");
    }

    #[test]
    fn stepped_values_are_exact_decimals_within_the_range() {
        let space = Space::parse("a: {min: 0.1, max: 1.0, step: 0.1}").unwrap();
        let domain = &space.params[0].1;
        let values: Vec<f64> = (0..10).map(|i| number(&domain.value(i as f64))).collect();
        assert_eq!(values, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
        assert_eq!(domain.finite_count(), Some(10));
        for i in 0..10 {
            assert_eq!(domain.coordinate(&domain.value(i as f64)), Some(i as f64));
        }
    }

    #[test]
    fn the_grid_enumerates_every_combination_once() {
        let space = Space::parse("a: {choices: [p, q, r]}\nb: {min: 1, max: 2, step: 1}").unwrap();
        assert_eq!(space.grid_size().unwrap(), 6);
        let points: Vec<Vec<f64>> = (0..6).map(|i| space.grid_point(i)).collect();
        assert_eq!(
            points,
            [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 0.0], [2.0, 1.0]].map(|p| p.to_vec())
        );
    }

    #[test]
    fn samples_stay_in_the_domain() {
        use rand::SeedableRng as _;
        let space = Space::parse("a: {min: 0.001, max: 10, log: true}\nb: {min: 1, max: 1000, step: 1, log: true}\nc: {choices: [p, q]}\nd: {min: 5, max: 5}").unwrap();
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
        for _ in 0..2_000 {
            for (_, domain) in &space.params {
                let value = domain.value(domain.sample(&mut rng));
                assert!(domain.coordinate(&value).is_some(), "{value:?} outside {domain:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_without_panicking(text in "\\PC{0,200}") {
            let _ = Space::parse(&text);
        }

        /// Any well-formed domain: every sample is a value the domain holds, found again at the
        /// coordinate it was drawn at (what resuming a search relies on).
        #[test]
        fn samples_round_trip_through_their_coordinates(
            min in -1e6f64..1e6,
            width in 0.0f64..1e6,
            step in proptest::option::of(1e-3f64..1e3),
            log in proptest::bool::ANY,
            seed in 0u64..1_000,
        ) {
            use rand::SeedableRng as _;
            let min = if log { min.abs() + 1e-3 } else { min };
            let mut text = format!("p: {{min: {min}, max: {}, log: {log}", min + width);
            if let Some(step) = step {
                text.push_str(&format!(", step: {step}"));
            }
            text.push('}');
            let Ok(space) = Space::parse(&text) else { return Ok(()) };
            let domain = &space.params[0].1;
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
            for _ in 0..20 {
                let coordinate = domain.sample(&mut rng);
                let value = domain.value(coordinate);
                proptest::prop_assert!(domain.coordinate(&value).is_some(), "{value:?} outside {domain:?}");
                if domain.finite_count().is_some() {
                    proptest::prop_assert_eq!(domain.coordinate(&value), Some(coordinate));
                }
            }
        }
    }
}
