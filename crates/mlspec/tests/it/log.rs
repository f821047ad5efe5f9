//! Inference logs: lines that Debian's goaccess (COMBINED) and PyPI's apachelogs read, a chain
//! and signed checkpoints that catch every modification, deletion, insertion, reordering and
//! truncation, and a partial last line that breaks nothing before it.

use std::fmt::Write as _;
use std::path::Path;

use super::store::mlspec;

/// A signed package and a log of `n` requests in `dir`.
fn logged(dir: &Path, n: usize, format: &str) {
    std::fs::create_dir_all(dir.join("model")).unwrap();
    std::fs::write(dir.join("model/weights.bin"), b"weights").unwrap();
    assert_eq!(mlspec(dir, &["keygen", "--out", "keys"]).code, 0);
    assert_eq!(
        mlspec(
            dir,
            &[
                "package",
                "build",
                "model",
                "--name",
                "churn",
                "--version",
                "1.0.0",
                "--no-record"
            ]
        )
        .code,
        0
    );
    assert_eq!(
        mlspec(dir, &["package", "sign", "model", "--key", "keys/private.pem"]).code,
        0
    );
    append(dir, 0..n, format);
}

fn append(dir: &Path, range: std::ops::Range<usize>, format: &str) -> super::store::Out {
    let mut input = String::new();
    for i in range {
        writeln!(
            input,
            "{{\"client\":\"10.0.0.{}\",\"user\":\"{}\",\"time\":\"2026-11-30T12:{:02}:{:02}Z\",\"method\":\"POST\",\"path\":\"/v2/models/churn/infer?q={i}\",\"status\":200,\"bytes\":{},\"referer\":\"-\",\"user_agent\":\"client \\\"v1\\\" {i}\",\"request_id\":\"req {i}\",\"latency_ms\":{}.25,\"output_digest\":\"sha256:{:064x}\"}}",
            i % 250,
            if i % 2 == 0 { "alice" } else { "" },
            i / 60 % 60,
            i % 60,
            100 + i,
            i % 40,
            i
        )
        .unwrap();
    }
    let out = assert_cmd::Command::cargo_bin("mlspec")
        .unwrap()
        .current_dir(dir)
        .args([
            "log",
            "append",
            "serve.log",
            "--key",
            "keys/private.pem",
            "--package",
            "model",
            "--checkpoint-every",
            "10",
            "--format",
            format,
        ])
        .write_stdin(input)
        .output()
        .unwrap();
    super::store::Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn verify(dir: &Path, format: &str) -> super::store::Out {
    mlspec(
        dir,
        &[
            "log",
            "verify",
            "serve.log",
            "--pubkey",
            "keys/public.pem",
            "--format",
            format,
        ],
    )
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("serve.log"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(dir: &Path, lines: &[String]) {
    std::fs::write(dir.join("serve.log"), lines.join("\n") + "\n").unwrap();
}

#[test]
fn combined_lines_parse_with_goaccess_and_apachelogs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 200, "combined");
    assert_eq!(verify(dir, "combined").code, 0);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/accesslog/check_goaccess.sh");
    let goaccess = std::process::Command::new("bash")
        .arg(script)
        .arg(dir.join("serve.log"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&goaccess.stdout);
    assert!(
        goaccess.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&goaccess.stderr)
    );
    assert!(
        said.contains("'failed_requests': 0") && said.contains("'valid_requests': 200"),
        "{said}"
    );
    // apachelogs, strictly: Combined, then the extension fields.
    let format = "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" rid=%{rid}n model=%{model}n package=%{package}n pipeline=%{pipeline}n data=%{data}n latency_ms=%{latency}n out=%{out}n chain=%{chain}n";
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/accesslog/check_apachelogs.py");
    let python = std::env::var("MLSPEC_INTEROP_PYTHON").expect("run the suite with scripts/test");
    let parsed = std::process::Command::new(python)
        .arg(checker)
        .arg(format)
        .arg(dir.join("serve.log"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&parsed.stdout);
    assert!(
        parsed.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    assert!(said.contains("200 lines OK"), "{said}");
    assert!(said.contains("'POST /v2/models/churn/infer?q=7 HTTP/1.1'"), "{said}");
}

#[test]
fn every_tampering_is_found_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 30, "combined");
    let good = lines(dir);
    let check = |lines: &[String]| {
        write_lines(dir, lines);
        let out = verify(dir, "combined");
        assert_eq!(out.code, 1, "{}", out.stdout);
        out.stdout
    };
    let mut modified = good.clone();
    modified[9] = modified[9].replace(" 200 ", " 500 ");
    assert!(
        check(&modified).contains("serve.log:10: does not match its chain value"),
        "modified"
    );
    let mut deleted = good.clone();
    deleted.remove(9);
    assert!(
        check(&deleted).contains("serve.log:10: does not match its chain value"),
        "deleted"
    );
    let mut inserted = good.clone();
    inserted.insert(7, good[4].clone());
    let said = check(&inserted);
    assert!(
        said.contains("serve.log:8: moved: it was written after line 4"),
        "{said}"
    );
    let mut swapped = good.clone();
    swapped.swap(2, 3);
    let said = check(&swapped);
    assert!(
        said.contains("serve.log:3: moved: it was written after line 4"),
        "{said}"
    );
    // Cutting lines off the end leaves a valid chain: the signed checkpoints catch it.
    let said = check(&good[..25]);
    assert!(said.contains("truncated: the checkpoint signed at"), "{said}");
    assert!(said.contains("covers line 30; the log has 25 complete lines"), "{said}");
    // Another key: the checkpoints do not verify.
    write_lines(dir, &good);
    assert_eq!(mlspec(dir, &["keygen", "--out", "other"]).code, 0);
    let out = mlspec(dir, &["log", "verify", "serve.log", "--pubkey", "other/public.pem"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("the checkpoint's signature does not verify"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_partial_last_line_is_reported_and_cut_before_the_next_append() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 12, "combined");
    let mut text = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    text.push_str("10.0.0.99 - - [30/Nov/2026:13:00:00 +0000] \"POST /v2/mo");
    std::fs::write(dir.join("serve.log"), text).unwrap();
    let out = verify(dir, "combined");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("serve.log:13: partial"), "{}", out.stdout);
    assert!(out.stdout.contains("(12 of 12 lines chain)"), "{}", out.stdout);
    let again = append(dir, 12..15, "combined");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("cut off a partial last line"), "{}", again.stderr);
    let out = verify(dir, "combined");
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(lines(dir).len(), 15);
}

#[test]
fn json_lines_chain_the_same_way() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 20, "jsonl");
    assert_eq!(verify(dir, "jsonl").code, 0);
    let good = lines(dir);
    let first: serde_json::Value = serde_json::from_str(&good[0]).unwrap();
    assert_eq!(first["modelInfo"]["name"], "churn@1.0.0");
    assert_eq!(first["requestInfo"]["requestId"], "req 0");
    assert_eq!(first["chain"].as_str().unwrap().len(), 64);
    let mut modified = good.clone();
    modified[4] = modified[4].replace("\"status\":200", "\"status\":201");
    write_lines(dir, &modified);
    let out = verify(dir, "jsonl");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("serve.log:5: does not match"), "{}", out.stdout);
}

#[test]
fn audit_walks_from_a_request_to_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 5, "combined");
    let out = mlspec(
        dir,
        &[
            "log",
            "audit",
            "serve.log:3",
            "--package",
            "model",
            "--pubkey",
            "keys/public.pem",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with("request req%202 — serve.log:3\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("chain      verified from line 1 to this line"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("churn@1.0.0"), "{}", out.stdout);
    // A package that is not the one the line names.
    std::fs::write(dir.join("model/weights.bin"), b"other").unwrap();
    assert_eq!(
        mlspec(
            dir,
            &[
                "package",
                "build",
                "model",
                "--name",
                "churn",
                "--version",
                "1.0.0",
                "--no-record"
            ]
        )
        .code,
        0
    );
    assert_eq!(
        mlspec(dir, &["package", "sign", "model", "--key", "keys/private.pem"]).code,
        0
    );
    let out = mlspec(
        dir,
        &[
            "log",
            "audit",
            "serve.log:3",
            "--package",
            "model",
            "--pubkey",
            "keys/public.pem",
        ],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("not verified: the line names package"),
        "{}",
        out.stdout
    );
    let bad = mlspec(
        dir,
        &[
            "log",
            "audit",
            "serve.log",
            "--package",
            "model",
            "--pubkey",
            "keys/public.pem",
        ],
    );
    assert_eq!(bad.code, 2);
}

#[test]
fn a_bad_record_stops_the_append_and_keeps_what_came_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 3, "combined");
    let out = assert_cmd::Command::cargo_bin("mlspec")
        .unwrap()
        .current_dir(dir)
        .args(["log", "append", "serve.log", "--key", "keys/private.pem", "--package", "model"])
        .write_stdin("{\"client\":\"1.2.3.4\",\"method\":\"GET\",\"path\":\"/\",\"status\":200,\"request_id\":\"a\",\"latency_ms\":1}\n{\"client\": 5}\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("standard input line 2: not a request record"),
        "{stderr}"
    );
    assert_eq!(lines(dir).len(), 4);
    assert_eq!(verify(dir, "combined").code, 0);
}
