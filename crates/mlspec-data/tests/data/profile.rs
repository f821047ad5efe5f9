//! Profiles against a straightforward exact computation on generated data: counts, moments,
//! extremes, distinct values and top values exactly; quantiles within the sketch's rank error;
//! the same result on one thread, on two, and merged from two halves.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use mlspec_data::profile::{OutlierRules, ProfileOptions, Profiler, profile};
use mlspec_data::{ErrorKind, ReadOptions, open};
use mlspec_spec::kinds::{DataProfileSpec, FeatureStats};

/// A deterministic pseudo-random number in [0, 1).
pub fn unit(i: u64, stream: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

struct Generated {
    csv: String,
    ages: Vec<f64>,
    incomes: Vec<f64>,
    countries: Vec<String>,
    members: Vec<bool>,
}

fn generate(rows: u64) -> Generated {
    let mut g = Generated {
        csv: "age,income,country,is_member,day\n".into(),
        ages: vec![],
        incomes: vec![],
        countries: vec![],
        members: vec![],
    };
    for i in 0..rows {
        let age = (18.0 + (unit(i, 1) * 70.0).floor()) as i64;
        let income = if unit(i, 2) < 0.05 {
            None
        } else {
            Some(((unit(i, 3) * 1e5).round() / 100.0) * if i % 997 == 0 { 100.0 } else { 1.0 })
        };
        let country = ["US", "DE", "IN", "BR", "JP"][(unit(i, 4) * 5.0) as usize % 5];
        let member = unit(i, 5) < 0.3;
        let day = 1 + i % 28;
        g.ages.push(age as f64);
        if let Some(x) = income {
            g.incomes.push(x);
        }
        g.countries.push(country.to_owned());
        g.members.push(member);
        let income = income.map(|x| x.to_string()).unwrap_or_default();
        writeln!(g.csv, "{age},{income},{country},{member},2024-03-{day:02}T12:00:00").unwrap();
    }
    g
}

fn run(path: &Path, threads: usize, batch_size: usize) -> DataProfileSpec {
    let options = ReadOptions {
        batch_size,
        ..ReadOptions::default()
    };
    let profiler = profile(
        open(path, &options).unwrap(),
        &ProfileOptions {
            threads,
            ..ProfileOptions::default()
        },
        |_| {},
    )
    .unwrap();
    profiler.spec(OutlierRules::default())
}

fn feature<'a>(spec: &'a DataProfileSpec, name: &str) -> &'a FeatureStats {
    spec.features.iter().find(|f| f.name.as_str() == name).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn assert_numeric_exact(stats: &FeatureStats, values: &[f64], rows: u64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let numeric = stats.numeric.as_ref().unwrap();
    assert_eq!(stats.count, values.len() as u64);
    assert_eq!(stats.missing, rows - values.len() as u64);
    assert!(close(numeric.mean, mean), "{} vs {mean}", numeric.mean);
    assert!(close(numeric.std_dev, std), "{} vs {std}", numeric.std_dev);
    assert_eq!(numeric.min, values.iter().copied().fold(f64::INFINITY, f64::min));
    assert_eq!(numeric.max, values.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    assert_eq!(numeric.zeros, values.iter().filter(|v| **v == 0.0).count() as u64);
    // Each reported quantile's true rank is within the sketch's error of the requested rank.
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let error = numeric.rank_error.unwrap();
    for q in &numeric.quantiles {
        let below = sorted.partition_point(|v| *v < q.value) as f64 / n;
        let at_or_below = sorted.partition_point(|v| *v <= q.value) as f64 / n;
        assert!(
            below - error <= q.q && q.q <= at_or_below + error,
            "q {} value {} ranks {below}..{at_or_below} error {error}",
            q.q,
            q.value
        );
    }
    let histogram_total: u64 = numeric.histogram.iter().map(|b| b.count).sum();
    assert_eq!(histogram_total, values.len() as u64);
}

#[test]
fn statistics_match_an_exact_computation() {
    let rows = 20_000;
    let g = generate(rows);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.csv");
    std::fs::write(&path, &g.csv).unwrap();
    let spec = run(&path, 1, 1000);
    assert_eq!(spec.rows, rows);
    assert_numeric_exact(feature(&spec, "age"), &g.ages, rows);
    assert_numeric_exact(feature(&spec, "income"), &g.incomes, rows);

    let country = feature(&spec, "country").string.clone().unwrap();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for c in &g.countries {
        *counts.entry(c).or_default() += 1;
    }
    assert_eq!(country.distinct, 5);
    assert!(!country.distinct_estimated);
    for top in &country.top_values {
        assert_eq!(counts[top.value.as_str()], top.count, "{}", top.value);
    }
    assert_eq!(country.top_values.len(), 5);
    assert_eq!(
        (country.min_length, country.max_length, country.mean_length),
        (Some(2), Some(2), Some(2.0))
    );

    let member = feature(&spec, "is_member");
    assert_eq!(member.true_count, Some(g.members.iter().filter(|m| **m).count() as u64));
    let day = feature(&spec, "day");
    assert_eq!(day.earliest.unwrap().to_rfc3339(), "2024-03-01T12:00:00+00:00");
    assert_eq!(day.latest.unwrap().to_rfc3339(), "2024-03-28T12:00:00+00:00");
    // Every value is at noon: whole hours, not whole days.
    assert_eq!(day.granularity.as_ref().map(|g| g.as_str()), Some("hour"));

    // The planted ×100 incomes (every 997th row) are the z-score outliers' examples.
    let income = feature(&spec, "income").numeric.clone().unwrap();
    let zscore = income.outliers.iter().find(|o| o.method.as_str() == "zscore").unwrap();
    let n = g.incomes.len() as f64;
    let mean = g.incomes.iter().sum::<f64>() / n;
    let std = (g.incomes.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let exact = g.incomes.iter().filter(|v| (**v - mean).abs() > 3.0 * std).count() as u64;
    assert_eq!(zscore.count, exact, "{zscore:?}");
    assert_eq!(zscore.example_rows.len(), 10);
    assert!(zscore.example_rows.iter().all(|r| r % 997 == 0), "{zscore:?}");
}

#[test]
fn threads_and_merged_halves_agree_with_one_pass() {
    let g = generate(12_000);
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.csv");
    std::fs::write(&whole, &g.csv).unwrap();
    let one = run(&whole, 1, 500);
    let two = run(&whole, 2, 500);
    let lines: Vec<&str> = g.csv.lines().collect();
    let (head, body) = lines.split_first().unwrap();
    let (a, b) = body.split_at(5_000);
    let halves: Vec<_> = [a, b]
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let path = dir.path().join(format!("part{i}.csv"));
            std::fs::write(&path, format!("{head}\n{}\n", part.join("\n"))).unwrap();
            let batches = open(&path, &ReadOptions::default()).unwrap();
            profile(
                batches,
                &ProfileOptions {
                    threads: 1,
                    ..ProfileOptions::default()
                },
                |_| {},
            )
            .unwrap()
        })
        .collect();
    let mut merged: Profiler = halves[0].clone();
    merged.merge(&halves[1]);
    let merged = merged.spec(OutlierRules::default());
    for other in [&two, &merged] {
        assert_eq!(other.rows, one.rows);
        for (x, y) in one.features.iter().zip(&other.features) {
            assert_eq!(
                (x.count, x.missing, x.true_count, x.earliest, x.latest),
                (y.count, y.missing, y.true_count, y.earliest, y.latest)
            );
            assert_eq!(x.string, y.string, "{}", x.name);
            if let (Some(p), Some(q)) = (&x.numeric, &y.numeric) {
                assert!(close(p.mean, q.mean) && close(p.std_dev, q.std_dev), "{}", x.name);
                assert_eq!((p.min, p.max, p.zeros), (q.min, q.max, q.zeros));
            }
        }
    }
}

fn sliced(path: &Path, slices: &[&str], threads: usize) -> Result<DataProfileSpec, mlspec_data::DataError> {
    let options = ProfileOptions {
        threads,
        slices: slices
            .iter()
            .map(|s| s.split(',').map(str::to_owned).collect())
            .collect(),
        ..ProfileOptions::default()
    };
    let batches = open(
        path,
        &ReadOptions {
            batch_size: 700,
            ..ReadOptions::default()
        },
    )?;
    Ok(profile(batches, &options, |_| {})?.spec(options.outliers))
}

#[test]
fn slices_and_their_crossings_are_profiled() {
    let g = generate(6_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.csv");
    std::fs::write(&path, &g.csv).unwrap();
    for threads in [1, 2] {
        let spec = sliced(&path, &["country,is_member"], threads).unwrap();
        assert_eq!(
            spec.slices.len(),
            5 + 2 + 10,
            "{:?}",
            spec.slices.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        let us_members = g
            .countries
            .iter()
            .zip(&g.members)
            .filter(|(c, m)| c.as_str() == "US" && **m)
            .count() as u64;
        let slice = spec
            .slices
            .iter()
            .find(|s| s.name.as_str() == "country=US,is_member=true")
            .unwrap();
        assert_eq!(slice.rows, us_members);
        assert_eq!(
            slice
                .filter
                .get(&mlspec_spec::newtypes::Key::new("country").unwrap())
                .map(String::as_str),
            Some("US")
        );
        let ages: Vec<f64> = g
            .ages
            .iter()
            .zip(g.countries.iter().zip(&g.members))
            .filter(|(_, (c, m))| c.as_str() == "US" && **m)
            .map(|(a, _)| *a)
            .collect();
        assert_numeric_exact(feature_of(&slice.features, "age"), &ages, us_members);
        let de = spec.slices.iter().find(|s| s.name.as_str() == "country=DE").unwrap();
        assert_eq!(
            de.rows,
            g.countries.iter().filter(|c| c.as_str() == "DE").count() as u64
        );
    }
}

fn feature_of<'a>(features: &'a [FeatureStats], name: &str) -> &'a FeatureStats {
    features.iter().find(|f| f.name.as_str() == name).unwrap()
}

#[test]
fn bad_slices_are_refused() {
    let g = generate(3_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.csv");
    std::fs::write(&path, &g.csv).unwrap();
    let missing = sliced(&path, &["contry"], 1).unwrap_err();
    assert_eq!(
        (missing.kind, missing.column.as_deref()),
        (ErrorKind::NoSuchColumn, Some("contry"))
    );
    assert!(missing.hint.unwrap().contains("country"));
    for threads in [1, 2] {
        let many = sliced(&path, &["income"], threads).unwrap_err();
        assert_eq!(many.kind, ErrorKind::LimitExceeded, "{many}");
    }
    let wide = sliced(&path, &["age,income,country,is_member"], 1).unwrap_err();
    assert_eq!(wide.kind, ErrorKind::InvalidArgument, "{wide}");
}

/// Exact outlier counts against the profile's own fences: Q1/Q3 from its quantiles, mean and
/// standard deviation from its statistics.
pub fn exact_outliers(stats: &FeatureStats, values: &[f64]) -> (u64, u64) {
    let numeric = stats.numeric.as_ref().unwrap();
    let quantile = |q: f64| numeric.quantiles.iter().find(|x| x.q == q).unwrap().value;
    let (q1, q3) = (quantile(0.25), quantile(0.75));
    let iqr = values
        .iter()
        .filter(|v| **v < q1 - 1.5 * (q3 - q1) || **v > q3 + 1.5 * (q3 - q1))
        .count();
    let (mean, std) = (numeric.mean, numeric.std_dev);
    let zscore = values
        .iter()
        .filter(|v| **v < mean - 3.0 * std || **v > mean + 3.0 * std)
        .count();
    (iqr as u64, zscore as u64)
}

pub fn outlier_counts(stats: &FeatureStats) -> Vec<(String, u64, bool)> {
    let numeric = stats.numeric.as_ref().unwrap();
    numeric
        .outliers
        .iter()
        .map(|o| (o.method.to_string(), o.count, o.estimated))
        .collect()
}

/// Row `i` of a heavy-tailed (Cauchy) column.
pub fn cauchy(i: u64) -> f64 {
    (std::f64::consts::PI * (unit(i, 7) - 0.5)).tan()
}

#[test]
fn outliers_beyond_the_kept_extremes_are_counted_in_a_second_pass() {
    // A heavy-tailed (Cauchy) column: thousands of IQR outliers on each side, far more than
    // the 256 extremes kept per side.
    let mut csv = String::from("id,tail,country\n");
    let mut values = Vec::new();
    let mut us = Vec::new();
    for i in 0..20_000u64 {
        let value = cauchy(i);
        let country = if unit(i, 8) < 0.5 { "US" } else { "DE" };
        writeln!(csv, "{i},{value},{country}").unwrap();
        values.push(value);
        if country == "US" {
            us.push(value);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tail.csv");
    std::fs::write(&path, &csv).unwrap();
    let rules = OutlierRules::default();
    for threads in [1, 2] {
        let options = ProfileOptions {
            threads,
            slices: vec![vec!["country".into()]],
            ..ProfileOptions::default()
        };
        let read = ReadOptions {
            batch_size: 1500,
            ..ReadOptions::default()
        };
        let mut profiler = profile(open(&path, &read).unwrap(), &options, |_| {}).unwrap();
        // One pass: the IQR count is an estimate, and says so.
        let one_pass = profiler.spec(rules);
        let estimated = outlier_counts(feature(&one_pass, "tail"));
        assert!(estimated.iter().any(|(m, _, e)| m == "iqr" && *e), "{estimated:?}");
        assert!(profiler.needs_outlier_pass(rules));

        // The pass reads the counted and the slice columns only.
        let only = ReadOptions {
            only_columns: Some(profiler.outlier_pass_columns(rules)),
            ..read.clone()
        };
        assert_eq!(only.only_columns, Some(vec![1, 2]));
        profiler
            .count_outliers(open(&path, &only).unwrap(), rules, threads, |_| {})
            .unwrap();
        assert!(!profiler.needs_outlier_pass(rules));
        let spec = profiler.spec(rules);
        let whole = feature(&spec, "tail");
        let (iqr, zscore) = exact_outliers(whole, &values);
        assert!(iqr > 2 * 256, "{iqr}");
        assert_eq!(
            outlier_counts(whole),
            vec![("iqr".into(), iqr, false), ("zscore".into(), zscore, false)]
        );
        let slice = spec.slices.iter().find(|s| s.name.as_str() == "country=US").unwrap();
        let tail = feature_of(&slice.features, "tail");
        let (iqr, zscore) = exact_outliers(tail, &us);
        assert_eq!(
            outlier_counts(tail),
            vec![("iqr".into(), iqr, false), ("zscore".into(), zscore, false)]
        );
        // Other thresholds are not what was counted: estimated again until counted again.
        let strict = OutlierRules { iqr: 3.0, zscore: 2.0 };
        assert!(profiler.needs_outlier_pass(strict));
    }
}

#[test]
fn the_outlier_pass_refuses_data_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tail.csv");
    let write = |rows: u64| {
        let mut csv = String::from("tail\n");
        for i in 0..rows {
            writeln!(csv, "{}", cauchy(i)).unwrap();
        }
        std::fs::write(&path, csv).unwrap();
    };
    write(10_000);
    let options = ProfileOptions {
        threads: 1,
        ..ProfileOptions::default()
    };
    let mut profiler = profile(open(&path, &ReadOptions::default()).unwrap(), &options, |_| {}).unwrap();
    write(9_000);
    let error = profiler
        .count_outliers(
            open(&path, &ReadOptions::default()).unwrap(),
            OutlierRules::default(),
            1,
            |_| {},
        )
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Changed, "{error}");
    assert!(error.message.contains("10000 rows, then 9000"), "{error}");
}
