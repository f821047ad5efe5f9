//! The profile benchmark on the generated data (`python3 scripts/gen-data.py --out-dir DIR`,
//! 1,000,000 rows × 15 columns): a full profile of the CSV and of the Parquet file, on one and
//! on two worker threads, three runs each (the best is reported).
//!
//! ```sh
//! MLSPEC_DATA_DIR=/tmp/mlspec-data cargo bench -p mlspec-data --bench profile
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Instant;

use mlspec_data::profile::{ProfileOptions, profile};
use mlspec_data::{ReadOptions, open};

fn main() {
    let dir = PathBuf::from(std::env::var("MLSPEC_DATA_DIR").unwrap_or_else(|_| "/tmp/mlspec-data".into()));
    for file in ["base.csv", "base.parquet"] {
        let path = dir.join(file);
        if !path.is_file() {
            println!(
                "{}: missing; run python3 scripts/gen-data.py --out-dir {}",
                path.display(),
                dir.display()
            );
            continue;
        }
        for threads in [1, 2] {
            let best = (0..3)
                .map(|_| {
                    let started = Instant::now();
                    let batches = open(&path, &ReadOptions::default()).unwrap();
                    let options = ProfileOptions {
                        threads,
                        ..ProfileOptions::default()
                    };
                    let profiler = profile(batches, &options, |_| {}).unwrap();
                    std::hint::black_box(profiler.spec(options.outliers));
                    started.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            println!("{file}: full profile, {threads} worker thread(s): {best:.2} s");
        }
    }
}
