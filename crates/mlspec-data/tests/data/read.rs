//! Readers: every format and compression gives the same batches; types are inferred and can be
//! overridden; bad input stops with an error naming file, place and column.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use mlspec_data::{CsvOptions, DataError, ErrorKind, Limits, ReadOptions, open};

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
    assert_eq!(error.kind, ErrorKind::NoSuchColumn);
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
    assert!(
        ragged.message.contains("a record of 2 fields; the header has 3"),
        "{ragged}"
    );
    assert_eq!(
        (ragged.kind, ragged.at.as_deref()),
        (ErrorKind::Malformed, Some("line 3")),
        "{ragged}"
    );
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
    assert_eq!(
        (changed.kind, changed.column.as_deref()),
        (ErrorKind::Malformed, Some("a")),
        "{changed}"
    );
    assert!(
        changed.at.as_deref().unwrap_or_default().starts_with("line "),
        "{changed}"
    );
    assert!(changed.hint.unwrap().contains("--type a=string"));

    let utf8 = error_of("u.csv", b"a,b\n1,\xff\xfe\n", &ReadOptions::default());
    assert_eq!(utf8.kind, ErrorKind::Malformed, "{utf8}");

    let empty = error_of("e.csv", b"", &ReadOptions::default());
    assert_eq!(empty.kind, ErrorKind::Empty, "{empty}");

    let mut truncated = gzip(CSV.as_bytes());
    truncated.truncate(truncated.len() / 2);
    let gz = error_of("t.csv.gz", &truncated, &ReadOptions::default());
    assert_eq!(gz.kind, ErrorKind::Malformed, "{gz}");
    assert!(gz.hint.as_deref().unwrap_or_default().contains("truncated"), "{gz}");
    let mut truncated = zstd::encode_all(CSV.as_bytes(), 3).unwrap();
    truncated.truncate(truncated.len() - 4);
    let zst = error_of("t.csv.zst", &truncated, &ReadOptions::default());
    assert_eq!(zst.kind, ErrorKind::Malformed, "{zst}");
    assert!(zst.hint.as_deref().unwrap_or_default().contains("truncated"), "{zst}");

    let parquet = error_of("c.parquet", b"PAR1 not really parquet PAR1", &ReadOptions::default());
    assert_eq!(parquet.kind, ErrorKind::Malformed, "{parquet}");

    let unknown = error_of("data.xlsx", b"x", &ReadOptions::default());
    assert_eq!(unknown.kind, ErrorKind::Unsupported, "{unknown}");
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

thread_local! {
    static WARNINGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn remember(warning: &str) {
    WARNINGS.with(|w| w.borrow_mut().push(warning.to_owned()));
}

/// The column names and the warnings of reading `bytes` as `name`.
fn names_of(name: &str, bytes: &[u8]) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, bytes);
    WARNINGS.with(|w| w.borrow_mut().clear());
    let options = ReadOptions {
        warn: Some(remember),
        ..ReadOptions::default()
    };
    let batches = read_all(&path, &options).unwrap();
    let names = batches[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    let warnings = WARNINGS.with(|w| {
        w.borrow()
            .iter()
            .map(|w| w.replace(&path.display().to_string(), "F"))
            .collect()
    });
    (names, warnings)
}

#[test]
fn repeated_and_empty_column_names_are_renamed_with_a_warning() {
    let (names, warnings) = names_of("d.csv", b"\na,a,,b\n1,2,3,4\n");
    assert_eq!(names, ["a", "a_2", "column_3", "b"]);
    assert_eq!(
        warnings,
        [
            "F (line 2): column 2 repeats the name `a`; it is read as `a_2`",
            "F (line 2): column 3 has no name; it is read as `column_3`",
        ]
    );
    let (names, _) = names_of("d.tsv", b"x\tx\tx\n1\t2\t3\n");
    assert_eq!(names, ["x", "x_2", "x_3"]);
    let (names, warnings) = names_of("d.jsonl", "{\"\": 1, \"a\u{e9}\": 2, \"ok\": 3}\n".as_bytes());
    assert_eq!(names, ["column_1", "a_", "ok"]);
    assert_eq!(warnings.len(), 2, "{warnings:?}");

    // Parquet allows one name twice in a schema.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.parquet");
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("v", DataType::Int64, true),
        arrow::datatypes::Field::new("v", DataType::Int64, true),
        arrow::datatypes::Field::new("", DataType::Int64, true),
    ]));
    let column: arrow::array::ArrayRef = std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2]));
    let batch = RecordBatch::try_new(schema.clone(), vec![column.clone(), column.clone(), column]).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let (names, warnings) = names_of("d.parquet", &std::fs::read(&path).unwrap());
    assert_eq!(names, ["v", "v_2", "column_3"]);
    assert!(
        warnings[0].starts_with("F (the footer's schema): column 2 repeats"),
        "{warnings:?}"
    );
}

#[test]
fn a_json_lines_key_given_twice_is_refused_at_its_line() {
    let error = error_of(
        "k.jsonl",
        b"{\"a\": 1}\n\n{\"a\": 2, \"a\": 3}\n",
        &ReadOptions::default(),
    );
    assert_eq!(
        (error.kind, error.at.as_deref()),
        (ErrorKind::Malformed, Some("line 3")),
        "{error}"
    );
    let two = error_of(
        "t.jsonl",
        b"{\"a\": 1}\n{\"a\": 2} {\"a\": 3}\n",
        &ReadOptions::default(),
    );
    assert_eq!(
        (two.kind, two.at.as_deref()),
        (ErrorKind::Malformed, Some("line 2")),
        "{two}"
    );
}

fn zstd_of(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

/// The place of the error reading `bytes` as `name` (plain, gzip and zstd), which must be the
/// same for all three.
fn error_line(name: &str, bytes: &[u8], options: &ReadOptions) -> String {
    let plain = error_of(name, bytes, options);
    for (suffix, packed) in [("gz", gzip(bytes)), ("zst", zstd_of(bytes))] {
        let compressed = error_of(&format!("{name}.{suffix}"), &packed, options);
        assert_eq!(compressed.at, plain.at, "{compressed} / {plain}");
        assert_eq!(compressed.message, plain.message);
    }
    plain.at.unwrap()
}

#[test]
fn errors_name_the_physical_line_of_the_record() {
    let one_row = ReadOptions {
        csv: CsvOptions {
            infer_rows: 1,
            ..CsvOptions::default()
        },
        batch_size: 1000,
        ..ReadOptions::default()
    };
    // A value that does not fit the sampled type, at lines 3, 4 and 5,001 (the fifth batch).
    assert_eq!(error_line("a.csv", b"a,b\n1,x\nnope,y\n", &one_row), "line 3");
    assert_eq!(error_line("a.csv", b"a,b\n1,x\n2,y\nnope,z\n", &one_row), "line 4");
    let mut long = String::from("a,b\n");
    (2..5001).for_each(|i| long.push_str(&format!("{i},x\n")));
    long.push_str("nope,z\n");
    assert_eq!(error_line("a.csv", long.as_bytes(), &one_row), "line 5001");
    // Blank lines and line breaks inside quotes are lines; the record starts where it starts.
    let quoted = "a,b\n1,\"two\nlines\"\n\n\n2,x\nnope,\"also\ntwo\"\n";
    assert_eq!(error_line("a.csv", quoted.as_bytes(), &one_row), "line 7");
    let crlf = "a,b\r\n1,x\r\n\r\n2,\"y\r\nz\"\r\nnope,w\r\n";
    assert_eq!(error_line("a.csv", crlf.as_bytes(), &one_row), "line 6");
    // A record with the wrong number of fields, first line of data and later.
    assert_eq!(error_line("r.csv", b"a,b\n1\n", &ReadOptions::default()), "line 2");
    assert_eq!(
        error_line("r.csv", b"a,b\n\n1,\"x\ny\"\n2,3,4\n", &ReadOptions::default()),
        "line 5"
    );
    // Invalid UTF-8 after a multi-line field.
    assert_eq!(error_line("u.csv", b"a,b\n1,\"x\ny\"\n2,\xff\n", &one_row), "line 4");

    // JSON Lines: a line that is not JSON (inside the sample and after it), a value of the
    // wrong type after the sample, blank lines counted.
    assert_eq!(error_line("j.jsonl", b"{oops\n", &ReadOptions::default()), "line 1");
    assert_eq!(
        error_line(
            "j.jsonl",
            b"{\"a\": 1}\n\n{\"a\": 2}\n{\"a\": 3\n",
            &ReadOptions::default()
        ),
        "line 4"
    );
    let mut lines = String::new();
    (1..5001).for_each(|i| lines.push_str(&format!("{{\"a\": {i}}}\n")));
    lines.push_str("{\"a\": \"five thousand and one\"}\n");
    assert_eq!(error_line("j.jsonl", lines.as_bytes(), &one_row), "line 5001");
    let mut blanks = String::from("{\"a\": 1}\n");
    (0..10).for_each(|_| blanks.push_str("  \n"));
    blanks.push_str("{\"a\": \"x\"}\n");
    let located = error_of("j.jsonl", blanks.as_bytes(), &one_row);
    assert_eq!(located.at.as_deref(), Some("line 12"), "{located}");
    // A key the sample did not have is refused, not dropped.
    let new_key = error_of("n.jsonl", b"{\"a\": 1}\n{\"a\": 2, \"b\": 3}\n", &one_row);
    assert_eq!(new_key.at.as_deref(), Some("line 2"), "{new_key}");
}

#[test]
fn a_truncated_stream_names_the_line_and_the_compressed_bytes() {
    let mut text = String::from("a,b\n");
    (0..20_000).for_each(|i| text.push_str(&format!("{i},{}\n", i * 7919 % 10007)));
    let mut packed = gzip(text.as_bytes());
    packed.truncate(packed.len() * 3 / 4);
    let error = error_of("t.csv.gz", &packed, &ReadOptions::default());
    let at = error.at.clone().unwrap();
    assert!(
        at.starts_with("line ") && at.contains("compressed bytes read"),
        "{error}"
    );
    let line: u64 = at["line ".len()..].split(',').next().unwrap().parse().unwrap();
    assert!(line > 1000 && line < 20_002, "{error}");
    assert!(error.hint.unwrap().contains("truncated"));
}

#[test]
fn parquet_errors_name_the_row_group_and_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.parquet");
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
        "v",
        DataType::Int64,
        true,
    )]));
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(1000))
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema.clone(), Some(properties))
            .unwrap();
    let values: arrow::array::ArrayRef = std::sync::Arc::new(arrow::array::Int64Array::from_iter_values(
        (0..3000).map(|i| i * 7919 % 10007),
    ));
    writer
        .write(&RecordBatch::try_new(schema, vec![values]).unwrap())
        .unwrap();
    let metadata = writer.close().unwrap();
    // Damage the second row group's data, not the footer.
    let second = &metadata.row_groups()[1].columns()[0];
    let (start, length) = second.byte_range();
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[usize::try_from(start).unwrap() + 20..usize::try_from(start + length).unwrap()] {
        *b = 0xAB;
    }
    std::fs::write(&path, &bytes).unwrap();
    let error = read_all(&path, &ReadOptions::default()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Malformed, "{error}");
    let at = error.at.clone().unwrap();
    assert!(
        at.starts_with(&format!("row group 2 of 3: rows 1001–2000, bytes {start}–")),
        "{error}"
    );
}

#[test]
fn na_and_friends_are_missing_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "n.csv",
        b"country,score,note\nNA,1,NULL\nDE,NA,N/A\nFR,3,\nUS,#N/A,<NA>\nnan,4,-\n",
    );
    let batch = concat(&read_all(&path, &ReadOptions::default()).unwrap());
    assert_eq!(batch.schema().field(1).data_type(), &DataType::Int64);
    assert_eq!(batch.column(0).null_count(), 1);
    assert_eq!(batch.column(1).null_count(), 2);
    assert_eq!(batch.column(2).null_count(), 4);
    // Namibia: only the empty field is missing.
    let namibia = ReadOptions {
        csv: CsvOptions {
            null_values: vec![String::new(), "-".into()],
            ..CsvOptions::default()
        },
        ..ReadOptions::default()
    };
    let batch = concat(&read_all(&path, &namibia).unwrap());
    assert_eq!(batch.column(0).null_count(), 0);
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "NA");
    assert_eq!(batch.schema().field(1).data_type(), &DataType::Utf8);
    assert_eq!(batch.column(2).null_count(), 2);
    // No null values at all: an empty field is an empty string.
    let none = ReadOptions {
        csv: CsvOptions {
            null_values: Vec::new(),
            ..CsvOptions::default()
        },
        ..ReadOptions::default()
    };
    let batch = concat(&read_all(&path, &none).unwrap());
    assert_eq!(batch.column(2).null_count(), 0);
    assert_eq!(batch.column(2).as_string::<i32>().value(2), "");
}

#[test]
fn year_first_dates_are_dates() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "d.csv",
        b"day,at,when\n2012/01/01,2012/01/01 13:45,01/02/2012\n2012/12/31,NA,03/04/2012\n",
    );
    let batch = concat(&read_all(&path, &ReadOptions::default()).unwrap());
    let types: Vec<DataType> = batch.schema().fields().iter().map(|f| f.data_type().clone()).collect();
    assert_eq!(types[0], DataType::Date32);
    assert_eq!(
        types[1],
        DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None)
    );
    assert_eq!(types[2], DataType::Utf8, "day-first or month-first is ambiguous");
    assert_eq!(
        batch.column(0).as_primitive::<arrow::datatypes::Date32Type>().value(1),
        15705
    );
    assert_eq!(
        batch
            .column(1)
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .value(0),
        1_325_425_500_000_000
    );
    assert_eq!(batch.column(1).null_count(), 1);
    // A value after the sample that is not a date in the layout stops the read at its line.
    let one_row = ReadOptions {
        csv: CsvOptions {
            infer_rows: 1,
            ..CsvOptions::default()
        },
        ..ReadOptions::default()
    };
    let error = error_of("d.csv", b"day\n2012/01/01\n\n2012/13/01\n", &one_row);
    assert_eq!(error.at.as_deref(), Some("line 4"), "{error}");
    assert_eq!(error.column.as_deref(), Some("day"));
    assert!(error.hint.unwrap().contains("--type day=string"));
    // An override wins.
    let text = ReadOptions {
        csv: CsvOptions {
            types: vec![("day".into(), DataType::Utf8)],
            ..CsvOptions::default()
        },
        ..ReadOptions::default()
    };
    let batch = concat(&read_all(&path, &text).unwrap());
    assert_eq!(batch.schema().field(0).data_type(), &DataType::Utf8);
}

#[test]
fn limits_stop_the_read_with_the_limit_the_place_and_the_way_out() {
    let wide = |columns: usize| {
        let mut text: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
        let header = text.join(",");
        text.iter_mut().for_each(|v| *v = "1".into());
        format!("\n{header}\n{}\n", text.join(","))
    };
    for columns in [20_000, 80_000] {
        let error = error_of("w.csv", wide(columns).as_bytes(), &ReadOptions::default());
        assert_eq!(
            (error.kind, error.at.as_deref()),
            (ErrorKind::LimitExceeded, Some("line 2")),
            "{error}"
        );
        assert!(error.message.contains("more than 10000 columns"), "{error}");
        assert!(error.hint.unwrap().contains("--max-columns"));
    }
    // Raised, the wide file is read in batches of fewer rows.
    let raised = ReadOptions {
        limits: Limits {
            max_columns: 20_000,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "w.csv", wide(20_000).as_bytes());
    let batches = read_all(&path, &raised).unwrap();
    assert_eq!(batches[0].num_columns(), 20_000);

    let small = ReadOptions {
        limits: Limits {
            max_record_bytes: 1000,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let long_field = format!("a,b\n1,x\n2,\"{}\"\n", "y\n".repeat(600));
    let error = error_line("l.csv", long_field.as_bytes(), &small);
    assert_eq!(error, "line 3");
    let long_line = format!("{{\"a\": 1}}\n\n{{\"a\": \"{}\"}}\n", "y".repeat(1000));
    assert_eq!(error_line("l.jsonl", long_line.as_bytes(), &small), "line 3");
    let message = error_of("l.jsonl", long_line.as_bytes(), &small);
    assert_eq!(message.kind, ErrorKind::LimitExceeded, "{message}");
    assert!(message.hint.unwrap().contains("--max-record-bytes"));
    // An unclosed quote makes the rest of the file one record.
    let unclosed = format!("a,b\n1,\"x\n{}", "2,y\n".repeat(500));
    assert_eq!(error_line("q.csv", unclosed.as_bytes(), &small), "line 2");
}
