//! Reading alone: every batch of a file and nothing else, timed — the floor under any command
//! that reads it (the transform benchmark's CSV by default; any file as the argument). Three
//! runs; the best wall time is reported, with the rows read.
//!
//! ```sh
//! cargo bench -p mlspec-data --bench read                       # /tmp/mlspec-data/transform.csv
//! cargo bench -p mlspec-data --bench read -- /path/to/data.parquet
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Instant;

use mlspec_data::{ReadOptions, open};

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map_or_else(|| PathBuf::from("/tmp/mlspec-data/transform.csv"), PathBuf::from);
    let (mut best, mut rows) = (f64::INFINITY, 0);
    for _ in 0..3 {
        let start = Instant::now();
        rows = open(&path, &ReadOptions::default())
            .unwrap()
            .map(|batch| batch.unwrap().num_rows())
            .sum::<usize>();
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("{}: {rows} rows read in {best:.3} s (best of 3)", path.display());
}
