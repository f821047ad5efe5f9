//! Readers: every format and compression gives the same batches; types are inferred and can be
//! overridden; bad input stops with an error naming file, place and column.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use mlspec_data::{CsvOptions, DataError, ReadOptions, open};

const CSV: &str = "id,age,income,country,is_member,event_ts\n\
1,34,52000.5,US,true,2024-01-02T03:04:05\n\
2,,61000,DE,false,2024-02-03T04:05:06\n\
3,51,,\"Korea, South\",true,2024-03-04T05:06:07\n\
4,27,38000.25,US,,2024-04-05T06:07:08\n";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn read_all(path: &Path, options: &ReadOptions) -> Result<Vec<RecordBatch>, DataError> {
    open(path, options)?.collect()
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
}

#[test]
fn csv_types_are_inferred_with_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "people.csv", CSV.as_bytes());
    let batch = concat(&read_all(&path, &ReadOptions::default()).unwrap());
    let types: Vec<(String, DataType)> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    assert_eq!(types[0].1, DataType::Int64);
    assert_eq!(types[1].1, DataType::Int64);
    assert_eq!(types[2].1, DataType::Float64);
    assert_eq!(types[3].1, DataType::Utf8);
    assert_eq!(types[4].1, DataType::Boolean);
    assert!(matches!(types[5].1, DataType::Timestamp(..)), "{:?}", types[5]);
    assert_eq!(batch.num_rows(), 4);
    assert_eq!(batch.column(1).null_count(), 1);
    assert_eq!(batch.column(2).as_primitive::<Float64Type>().value(3), 38000.25);
    assert_eq!(batch.column(3).as_string::<i32>().value(2), "Korea, South");
    assert_eq!(batch.column(4).null_count(), 1);
}

#[test]
fn compression_and_batching_do_not_change_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let plain = concat(&read_all(&write(dir.path(), "a.csv", CSV.as_bytes()), &ReadOptions::default()).unwrap());
    let gz = write(dir.path(), "a.csv.gz", &gzip(CSV.as_bytes()));
    let zst = write(dir.path(), "a.csv.zst", &zstd::encode_all(CSV.as_bytes(), 3).unwrap());
    let small = ReadOptions {
        batch_size: 1,
        ..ReadOptions::default()
    };
    for path in [&gz, &zst] {
        let batches = read_all(path, &small).unwrap();
        assert_eq!(batches.len(), 4);
        assert_eq!(concat(&batches), plain, "{}", path.display());
    }
    // Concatenated gzip members are one stream.
    let mut two = gzip(&CSV.as_bytes()[..60]);
    two.extend(gzip(&CSV.as_bytes()[60..]));
    let members = write(dir.path(), "m.csv.gz", &two);
    assert_eq!(concat(&read_all(&members, &ReadOptions::default()).unwrap()), plain);
}

#[test]
fn tsv_json_lines_and_parquet_read_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = write(dir.path(), "a.tsv", b"x\ty\n1\ta\n2\tb\n");
    let batch = concat(&read_all(&tsv, &ReadOptions::default()).unwrap());
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().values().to_vec(), [1, 2]);

    let jsonl = write(
        dir.path(),
        "a.jsonl",
        b"{\"x\": 1, \"y\": \"a\"}\n{\"x\": 2, \"y\": null}\n",
    );
    let json = concat(&read_all(&jsonl, &ReadOptions::default()).unwrap());
    assert_eq!(json.num_rows(), 2);
    assert_eq!(json.column(1).null_count(), 1);

    let path = dir.path().join("a.parquet");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    assert_eq!(concat(&read_all(&path, &ReadOptions::default()).unwrap()), batch);
    // The footer gives the rows without reading the data; other formats do not say.
    assert_eq!(mlspec_data::parquet_rows(&path), Some(2));
    assert_eq!(mlspec_data::parquet_rows(&tsv), None);
}

#[test]
fn reading_only_some_columns_keeps_the_schema_and_nulls_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "a.csv", CSV.as_bytes());
    let all = concat(&read_all(&csv, &ReadOptions::default()).unwrap());
    let parquet = dir.path().join("a.parquet");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&parquet).unwrap(), all.schema(), None).unwrap();
    writer.write(&all).unwrap();
    writer.close().unwrap();
    let only = ReadOptions {
        only_columns: Some(vec![3, 1]),
        batch_size: 3,
        ..ReadOptions::default()
    };
    for path in [&csv, &parquet] {
        let some = concat(&read_all(path, &only).unwrap());
        assert_eq!(some.schema(), all.schema(), "{}", path.display());
        for i in 0..all.num_columns() {
            if i == 1 || i == 3 {
                assert_eq!(some.column(i), all.column(i), "{} column {i}", path.display());
            } else {
                assert_eq!(some.column(i).null_count(), 4, "{} column {i}", path.display());
            }
        }
    }
}

#[test]
fn type_overrides_apply_and_unknown_columns_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", CSV.as_bytes());
    let options = ReadOptions {
        csv: CsvOptions {
            types: vec![("id".into(), DataType::Utf8)],
            ..CsvOptions::default()
        },
        ..ReadOptions::default()
    };
    let batch = concat(&read_all(&path, &options).unwrap());
    assert_eq!(batch.schema().field(0).data_type(), &DataType::Utf8);
    let options = ReadOptions {
        csv: CsvOptions {
            types: vec![("nope".into(), DataType::Utf8)],
            ..CsvOptions::default()
        },
        ..ReadOptions::default()
    };
    let error = read_all(&path, &options).unwrap_err();
    assert_eq!(error.column.as_deref(), Some("nope"));
    assert!(error.hint.unwrap().contains("id, age, income"));
}

fn error_of(name: &str, bytes: &[u8], options: &ReadOptions) -> DataError {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, bytes);
    let error = read_all(&path, options).unwrap_err();
    assert_eq!(error.file, path.display().to_string());
    error
}

#[test]
fn bad_input_is_located() {
    let ragged = error_of("r.csv", b"a,b,c\n1,2,3\n4,5\n", &ReadOptions::default());
    assert!(ragged.message.contains("unequal lengths"), "{ragged}");
    assert_eq!(ragged.at.as_deref(), Some("line 3"), "{ragged}");
    assert!(ragged.hint.is_some());

    // The type was inferred from the first row; row 3 does not fit.
    let sampled = ReadOptions {
        csv: CsvOptions {
            infer_rows: 1,
            ..CsvOptions::default()
        },
        ..ReadOptions::default()
    };
    let changed = error_of("t.csv", b"a,b\n1,x\n2,y\nthree,z\n", &sampled);
    assert_eq!(changed.column.as_deref(), Some("a"), "{changed}");
    assert!(
        changed.at.as_deref().unwrap_or_default().starts_with("line "),
        "{changed}"
    );
    assert!(changed.hint.unwrap().contains("--type a=string"));

    let utf8 = error_of("u.csv", b"a,b\n1,\xff\xfe\n", &ReadOptions::default());
    assert!(utf8.to_string().to_lowercase().contains("utf"), "{utf8}");

    let empty = error_of("e.csv", b"", &ReadOptions::default());
    assert!(empty.message.contains("no columns"), "{empty}");

    let mut truncated = gzip(CSV.as_bytes());
    truncated.truncate(truncated.len() / 2);
    let gz = error_of("t.csv.gz", &truncated, &ReadOptions::default());
    assert!(gz.hint.as_deref().unwrap_or_default().contains("truncated"), "{gz}");
    let mut truncated = zstd::encode_all(CSV.as_bytes(), 3).unwrap();
    truncated.truncate(truncated.len() - 4);
    let zst = error_of("t.csv.zst", &truncated, &ReadOptions::default());
    assert!(zst.hint.as_deref().unwrap_or_default().contains("truncated"), "{zst}");

    let parquet = error_of("c.parquet", b"PAR1 not really parquet PAR1", &ReadOptions::default());
    assert!(parquet.message.contains("not a readable Parquet file"), "{parquet}");

    let unknown = error_of("data.xlsx", b"x", &ReadOptions::default());
    assert!(unknown.message.contains("cannot tell the format"), "{unknown}");
}

#[test]
fn a_header_only_file_has_columns_and_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "h.csv", b"a,b,c\n");
    let batches = open(&path, &ReadOptions::default()).unwrap();
    assert_eq!(batches.schema().fields().len(), 3);
    let rows: usize = batches.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 0);
}
