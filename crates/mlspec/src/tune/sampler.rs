//! Where the next trial's parameters come from.
//!
//! - **random**: each parameter drawn uniformly from its domain (log-uniformly on a log scale);
//! - **grid**: every combination of the (finite) domains, the last parameter varying fastest;
//! - **tpe**: the Tree-structured Parzen Estimator (Bergstra et al., 2011), through the `tpe`
//!   crate: after [`TPE_STARTUP_TRIALS`] random trials, each parameter's next value is the one,
//!   among candidates drawn from a density fitted to the best 10% of the finished trials, that
//!   is most likely under that density relative to one fitted to the rest. Like Optuna's default
//!   sampler it models each parameter on its own (univariate TPE).
//!
//! A trial's random draws come from a generator seeded by the search's seed and the trial's
//! number, so a search run again with the same seed proposes the same random and grid trials,
//! and a resumed one continues the sequence it was on.

use rand::SeedableRng as _;
use rand::rngs::Xoshiro256PlusPlus;
use tpe::TpeOptimizer;

use super::space::Space;

/// Random trials before TPE models the results (Optuna's default, `n_startup_trials=10`).
pub const TPE_STARTUP_TRIALS: usize = 10;

/// The sampling strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SamplerKind {
    Random,
    Grid,
    Tpe,
}

/// Proposes trials and learns from their results.
pub struct Sampler {
    kind: SamplerKind,
    seed: u64,
    /// One optimiser per parameter (TPE only), with the end of its coordinate range; None for
    /// a parameter with a single value.
    optimisers: Vec<Option<(TpeOptimizer, f64)>>,
    observed: usize,
}

impl Sampler {
    pub fn new(kind: SamplerKind, space: &Space, seed: u64) -> anyhow::Result<Sampler> {
        let mut optimisers = Vec::new();
        if kind == SamplerKind::Tpe {
            for (key, domain) in &space.params {
                let optimiser = match domain.coordinate_range() {
                    None => None,
                    Some((start, end)) => {
                        let range = tpe::range(start, end)
                            .map_err(|e| anyhow::anyhow!("parameter `{key}`: its range cannot be searched: {e:?}"))?;
                        let estimator = if domain.finite_count().is_some() {
                            tpe::histogram_estimator()
                        } else {
                            tpe::parzen_estimator()
                        };
                        Some((TpeOptimizer::new(estimator, range), end))
                    }
                };
                optimisers.push(optimiser);
            }
        }
        Ok(Sampler {
            kind,
            seed,
            optimisers,
            observed: 0,
        })
    }

    /// The coordinates of trial number `index`.
    pub fn propose(&mut self, index: u64, space: &Space) -> Vec<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        match self.kind {
            SamplerKind::Grid => space.grid_point(index),
            SamplerKind::Tpe if self.observed >= TPE_STARTUP_TRIALS => space
                .params
                .iter()
                .zip(&mut self.optimisers)
                .map(|((_, domain), optimiser)| match optimiser {
                    Some((optimiser, _)) => optimiser.ask(&mut rng).unwrap_or_else(|never| match never {}),
                    None => domain.sample(&mut rng),
                })
                .collect(),
            SamplerKind::Random | SamplerKind::Tpe => space.params.iter().map(|(_, d)| d.sample(&mut rng)).collect(),
        }
    }

    /// Learns that a trial at `coordinates` scored `loss` (smaller is better).
    pub fn observe(&mut self, coordinates: &[f64], loss: f64) {
        self.observed += 1;
        for (optimiser, &coordinate) in self.optimisers.iter_mut().zip(coordinates) {
            if let Some((optimiser, end)) = optimiser {
                // The crate's ranges exclude their end; a value at the domain's max is told as
                // the largest coordinate below it.
                let _ = optimiser.tell(coordinate.min(end.next_down()), loss);
            }
        }
    }

    /// How the Training document names the algorithm.
    pub fn algorithm(&self) -> mlspec_spec::kinds::SearchAlgorithm {
        use mlspec_spec::kinds::SearchAlgorithm;
        match self.kind {
            SamplerKind::Random => SearchAlgorithm::Random,
            SamplerKind::Grid => SearchAlgorithm::Grid,
            SamplerKind::Tpe => SearchAlgorithm::Bayesian,
        }
    }

    /// The sampler and its settings, as recorded.
    pub fn describe(&self) -> String {
        match self.kind {
            SamplerKind::Random => "random (uniform; log-uniform on log ranges)".to_owned(),
            SamplerKind::Grid => "grid (every combination, the last parameter fastest)".to_owned(),
            SamplerKind::Tpe => format!(
                "tpe (univariate, the tpe crate 0.3: {TPE_STARTUP_TRIALS} random startup trials, gamma 0.1, 24 candidates)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(text: &str) -> Space {
        Space::parse(text).unwrap()
    }

    #[test]
    fn the_same_seed_proposes_the_same_random_trials() {
        let space = space("a: {min: 0, max: 1}\nb: {choices: [p, q, r]}");
        let mut one = Sampler::new(SamplerKind::Random, &space, 42).unwrap();
        let mut two = Sampler::new(SamplerKind::Random, &space, 42).unwrap();
        let mut other = Sampler::new(SamplerKind::Random, &space, 43).unwrap();
        for index in 0..20 {
            assert_eq!(one.propose(index, &space), two.propose(index, &space));
        }
        assert_ne!(one.propose(0, &space), other.propose(0, &space));
    }

    #[test]
    fn tpe_finds_the_minimum_of_a_bowl_better_than_random() {
        let space = space("x: {min: -5, max: 5}\ny: {choices: [1, 10, 100]}");
        let objective = |c: &[f64], space: &Space| {
            let x = match space.params[0].1.value(c[0]) {
                mlspec_spec::values::ParamValue::Number(n) => n,
                _ => unreachable!(),
            };
            x * x + [1.0, 10.0, 100.0][c[1] as usize]
        };
        let best = |kind| {
            let mut sampler = Sampler::new(kind, &space, 1).unwrap();
            let mut best = f64::INFINITY;
            for index in 0..80 {
                let c = sampler.propose(index, &space);
                let loss = objective(&c, &space);
                sampler.observe(&c, loss);
                best = best.min(loss);
            }
            best
        };
        let (tpe, random) = (best(SamplerKind::Tpe), best(SamplerKind::Random));
        assert!(tpe < 1.05, "tpe reached {tpe}");
        assert!(tpe <= random, "tpe {tpe}, random {random}");
    }

    #[test]
    fn a_value_at_the_top_of_a_range_is_learnt() {
        let space = space("x: {min: 0, max: 1}");
        let mut sampler = Sampler::new(SamplerKind::Tpe, &space, 0).unwrap();
        sampler.observe(&[1.0], 0.5);
        let told: Vec<(f64, f64)> = sampler.optimisers[0].as_ref().unwrap().0.trials().collect();
        assert_eq!(told.len(), 1);
        assert!(told[0].0 < 1.0);
    }
}
