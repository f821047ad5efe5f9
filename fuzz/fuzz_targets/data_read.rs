//! Any bytes as a CSV, a JSON Lines, a gzip'd CSV and a Parquet file, read and profiled: the
//! engine must never panic, and every error must name the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_data::profile::{ProfileOptions, profile};
use mlspec_data::{ReadOptions, open};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    for name in ["f.csv", "f.jsonl", "f.csv.gz", "f.parquet"] {
        let path = dir.path().join(name);
        if std::fs::write(&path, data).is_err() {
            return;
        }
        let options = ReadOptions { batch_size: 64, ..ReadOptions::default() };
        let profiled = open(&path, &options).and_then(|batches| {
            let options = ProfileOptions { threads: 1, slices: Vec::new(), ..ProfileOptions::default() };
            profile(batches, &options, |_| {})
        });
        match profiled {
            Ok(profiler) => {
                let spec = profiler.spec(Default::default());
                assert_eq!(spec.rows, profiler.rows());
            }
            Err(error) => assert!(error.file.ends_with(name), "{error}"),
        }
    }
});
