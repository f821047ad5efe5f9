//! Secrets: a table of hostile values is redacted everywhere (values, argument lists,
//! environment) and refused by `validate` in any field of any kind, never echoed; a table of
//! look-alikes is left alone and accepted.

use mlspec_spec::migrate::migrate;
use mlspec_spec::redact::{MASK, find, redact, redact_args, redact_env};
use mlspec_spec::{Format, Limits, validate_text};

/// Hostile values and the secret each holds.
const HOSTILE: &[(&str, &str)] = &[
    ("postgres://admin:hunter2@db.internal:5432/ml", "hunter2"),
    ("postgresql://u:p%40ss@h/db?sslmode=require", "p%40ss"),
    ("mysql://root:toor@10.0.0.1/x", "toor"),
    (
        "mongodb+srv://svc:m0ng0pw@cluster0.example.net/?retryWrites=true",
        "m0ng0pw",
    ),
    ("redis://:r3d1s@cache:6379/0", "r3d1s"),
    ("amqp://guest:gu3st@rabbit:5672/", "gu3st"),
    ("https://user:httppw@example.com/data.csv", "httppw"),
    ("ftp://anon:ftppw@files.example.com/pub", "ftppw"),
    ("s3://AKIAEXAMPLE:s3cr3tkey@bucket/prefix", "s3cr3tkey"),
    ("jdbc:postgresql://jdbcuser:jdbcpw@db:5432/ml", "jdbcpw"),
    (
        "jdbc:sqlserver://db:1433;databaseName=ml;user=sa;password=Jdbc!Pw1",
        "Jdbc!Pw1",
    ),
    ("jdbc:mysql://db/ml?user=u&password=qs-pw", "qs-pw"),
    ("Driver={ODBC Driver 18};Server=db;UID=sa;PWD=odbc-pw;", "odbc-pw"),
    ("Driver={SQL Server};Server=db;Uid=sa;Pwd={br;aced};", "{br;aced}"),
    ("Server=tcp:db,1433;User ID=sa;Password=AdoPw#1;Encrypt=True", "AdoPw#1"),
    (
        "Data Source=db;Initial Catalog=ml;User Id=sa;Password='quoted pw';",
        "'quoted pw'",
    ),
    (
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=YWJjZGVmZ2g=;",
        "YWJjZGVmZ2g=",
    ),
    ("host=db port=5432 user=ml password=libpqpw dbname=ml", "libpqpw"),
    (
        "https://bucket.s3.amazonaws.com/model.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEX%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=9f86d081884c7d659a2feaa0c55ad015",
        "9f86d081884c7d659a2feaa0c55ad015",
    ),
    (
        "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=svc%40p.iam.gserviceaccount.com%2F20260101&X-Goog-Signature=1d2c3b4a5f6e",
        "1d2c3b4a5f6e",
    ),
    (
        "https://acct.blob.core.windows.net/c/blob?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-31T00:00:00Z&sig=AzUrE%2BsIg%3D",
        "AzUrE%2BsIg%3D",
    ),
    ("https://api.example.com/v1/data?token=tok_live_123", "tok_live_123"),
    ("https://graph.example.com/me?access_token=ya29.a0Af", "ya29.a0Af"),
    (
        "https://d111.cloudfront.net/x?Expires=1&Signature=cfSig~abc&Key-Pair-Id=K1",
        "cfSig~abc",
    ),
    ("--password=flagpw", "flagpw"),
    ("--api-key=ak_12345", "ak_12345"),
    ("--token tok-after-space", "tok-after-space"),
    ("train.py --db-password s3cret --epochs 3", "s3cret"),
    (
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
        "eyJhbGciOiJIUzI1NiJ9.e30.sig",
    ),
];

/// Look-alikes that carry no secret.
const HARMLESS: &[&str] = &[
    "postgres://admin@db.internal:5432/ml",
    "https://example.com/data.csv?version=3&format=csv",
    "s3://bucket/prefix/model.bin",
    "tokenizer=bpe;vocab=32000",
    "max_tokens=512",
    "author=ada;keyboard=us",
    "--password-file /run/secrets/db",
    "--password=$DB_PASSWORD",
    "password=env:DB_PASSWORD",
    "https://user:***@example.com/x",
    "a=b;c=d;key=value",
    "--tokenizer gpt2",
    "the session starts at nine",
    "x-amz-date=20260101",
];

#[test]
fn hostile_values_are_redacted_and_found() {
    for (value, secret) in HOSTILE {
        let redacted = redact(value);
        assert!(!redacted.contains(secret), "{value} → {redacted}");
        assert!(redacted.contains(MASK), "{value} → {redacted}");
        let found = find(value);
        assert!(!found.is_empty(), "{value}");
        for s in found {
            assert!(
                !s.what.contains(secret),
                "the description echoes the secret: {}",
                s.what
            );
        }
        // Redacting twice changes nothing more.
        assert_eq!(redact(&redacted), redacted, "{value}");
    }
}

#[test]
fn harmless_values_are_left_alone() {
    for value in HARMLESS {
        assert_eq!(redact(value), *value);
        assert!(find(value).is_empty(), "{value}: {:?}", find(value));
    }
}

#[test]
fn arguments_and_environment_are_redacted() {
    let args = [
        "python",
        "train.py",
        "--api-key",
        "ak_live",
        "--password=pw1",
        "--lr",
        "0.1",
        "--token",
        "--verbose",
    ];
    let shown = redact_args(&args);
    assert_eq!(
        shown,
        [
            "python",
            "train.py",
            "--api-key",
            MASK,
            "--password=***",
            "--lr",
            "0.1",
            "--token",
            "--verbose"
        ]
    );
    assert_eq!(
        redact_env("MLSPEC_STORE", "postgres://u:pw@h/db"),
        "postgres://u:***@h/db"
    );
    assert_eq!(redact_env("DB_PASSWORD", "pw"), MASK);
    assert_eq!(redact_env("GITHUB_TOKEN", "ghp_x"), MASK);
    assert_eq!(redact_env("PWD", "/home/ada"), "/home/ada");
    assert_eq!(redact_env("HF_TOKENIZERS_PARALLELISM", "false"), "false");
}

fn run_with(spec: &str) -> String {
    format!("apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: r}}\nspec: {{status: Running, {spec}}}\n")
}

fn yaml_string(value: &str) -> String {
    serde_json::to_string(value).unwrap()
}

#[test]
fn validate_refuses_inline_credentials_in_any_field_without_echoing_them() {
    for (value, secret) in HOSTILE {
        let quoted = yaml_string(value);
        for (text, path) in [
            (run_with(&format!("params: {{conn: {quoted}}}")), "/spec/params/conn"),
            (run_with(&format!("command: [run, {quoted}]")), "/spec/command/1"),
            (
                format!(
                    "apiVersion: mlspec/v1\nkind: Dataset\nmetadata: {{name: d, description: {quoted}}}\nspec: {{versions: [{{version: '1', definition: {{datastore: s, path: x}}}}], current: '1'}}\n"
                ),
                "/metadata/description",
            ),
        ] {
            let outcome = validate_text(&text, Format::Yaml, &Limits::default());
            assert!(outcome.documents.is_empty(), "{value} in {path}");
            let d = outcome
                .diagnostics
                .iter()
                .find(|d| d.path.as_deref() == Some(path))
                .unwrap_or_else(|| panic!("{value} in {path}: {:#?}", outcome.diagnostics));
            assert!(d.message.ends_with("is given inline"), "{}", d.message);
            assert!(!d.message.contains(secret) && !d.hint.as_deref().unwrap_or("").contains(secret));
            assert!(d.hint.as_deref().unwrap().contains("secretRef"));
        }
    }
    // A flag and its value as separate arguments.
    let outcome = validate_text(
        &run_with("command: [train, --api-key, ak_live_1]"),
        Format::Yaml,
        &Limits::default(),
    );
    assert_eq!(outcome.diagnostics[0].path.as_deref(), Some("/spec/command/2"));
    // A secret-looking key with a literal value, in any map.
    for spec in [
        "params: {db_password: hunter2}",
        "params: {apiKey: 12345}",
        "params: {AWS_SECRET_ACCESS_KEY: abc}",
    ] {
        let outcome = validate_text(&run_with(spec), Format::Yaml, &Limits::default());
        assert!(outcome.has_errors(), "{spec}");
        assert!(
            outcome.diagnostics[0].message.contains("looks like a credential"),
            "{spec}"
        );
    }
}

#[test]
fn validate_accepts_look_alikes() {
    for value in HARMLESS {
        let text = run_with(&format!("params: {{note: {}}}", yaml_string(value)));
        let outcome = validate_text(&text, Format::Yaml, &Limits::default());
        assert!(!outcome.has_errors(), "{value}: {:#?}", outcome.diagnostics);
    }
    for spec in [
        "params: {tokenizer: bpe, max_tokens: 512, author: ada, keyboard: us}",
        "params: {password: '$DB_PASSWORD'}",
        "command: [train, --password-file, /run/secrets/db]",
    ] {
        let outcome = validate_text(&run_with(spec), Format::Yaml, &Limits::default());
        assert!(!outcome.has_errors(), "{spec}: {:#?}", outcome.diagnostics);
    }
}

#[test]
fn migrate_redacts_secrets_inside_values_and_names_the_field() {
    for (value, secret) in HOSTILE {
        let legacy = format!(
            "schema_version: 0.1.0\nschema_type: base\nrun_id: r1\nstep_id: s1\nrun_date: 2026-01-01 00:00:00\nsettings:\n  connection_string: {}\n",
            yaml_string(value)
        );
        let migration = migrate(&legacy).unwrap();
        let text = serde_json::to_string(&migration.documents).unwrap();
        assert!(!text.contains(secret), "{value}: {text}");
        assert!(
            migration
                .notes
                .iter()
                .any(|n| n.starts_with("warning:") && n.contains("connection_string") && !n.contains(secret)),
            "{value}: {:#?}",
            migration.notes
        );
        for document in &migration.documents {
            let yaml = serde_saphyr::to_string(document).unwrap();
            let outcome = validate_text(&yaml, Format::Yaml, &Limits::default());
            assert!(!outcome.has_errors(), "{value}: {:#?}", outcome.diagnostics);
        }
    }
}

/// Found by the `migrate` fuzz target: a plain value under a key that reads like a credential
/// (`onnx_credential_model.bucket: faces`, `api_token: 12`) was copied, and `validate` refused the result.
#[test]
fn migrate_masks_values_under_credential_like_keys() {
    for (key, value) in [
        ("onnx_credential_model.bucket", "\"faces\""),
        ("api_token", "12"),
        ("dbPassword", "hunter2"),
    ] {
        let legacy = format!(
            "schema_version: 0.1.0\nschema_type: base\nrun_id: r1\nstep_id: s1\nrun_date: 2026-01-01 00:00:00\nsettings:\n  {key}: {value}\n"
        );
        let migration = migrate(&legacy).unwrap();
        assert!(
            migration
                .notes
                .iter()
                .any(|n| n.starts_with("warning:") && n.contains(key)),
            "{key}: {:#?}",
            migration.notes
        );
        for document in &migration.documents {
            let yaml = serde_saphyr::to_string(document).unwrap();
            assert!(!yaml.contains(value.trim_matches('"')), "{key}: {yaml}");
            let outcome = validate_text(&yaml, Format::Yaml, &Limits::default());
            assert!(!outcome.has_errors(), "{key}: {:#?}", outcome.diagnostics);
        }
    }
}
