//! Inference logs: lines that Debian's goaccess (COMBINED) and PyPI's apachelogs read, a chain
//! and signed checkpoints that catch every modification, deletion, insertion, reordering and
//! truncation, and a partial last line that breaks nothing before it.

use std::fmt::Write as _;
use std::path::Path;

use super::store::mlspec;

/// A signed package and a log of `n` requests in `dir`.
fn logged(dir: &Path, n: usize, format: &str) {
    signed_package(dir, "model");
    append(dir, 0..n, format);
}

/// Keys in `dir/keys` and a package `churn` 1.0.0 of one file built in `dir/package` and signed
/// with them, through the CLI.
pub(crate) fn signed_package(dir: &Path, package: &str) {
    std::fs::create_dir_all(dir.join(package)).unwrap();
    std::fs::write(dir.join(package).join("weights.bin"), b"weights").unwrap();
    let steps: [&[&str]; 3] = [
        &["keygen", "--out", "keys"],
        &[
            "package",
            "build",
            package,
            "--name",
            "churn",
            "--version",
            "1.0.0",
            "--no-record",
        ],
        &["package", "sign", package, "--key", "keys/private.pem"],
    ];
    for step in steps {
        let out = mlspec(dir, step);
        assert_eq!(out.code, 0, "{step:?}: {}", out.stderr);
    }
}

fn append(dir: &Path, range: std::ops::Range<usize>, format: &str) -> super::store::Out {
    append_records(dir, &records(range), &["--format", format])
}

/// `mlspec log append serve.log` (a checkpoint every 10 lines) with `extra` arguments.
fn append_records(dir: &Path, input: &str, extra: &[&str]) -> super::store::Out {
    append_to(dir, "serve.log", input, extra)
}

fn append_to(dir: &Path, log: &str, input: &str, extra: &[&str]) -> super::store::Out {
    let out = assert_cmd::Command::cargo_bin("mlspec")
        .unwrap()
        .current_dir(dir)
        .args([
            "log",
            "append",
            log,
            "--key",
            "keys/private.pem",
            "--package",
            "model",
            "--checkpoint-every",
            "10",
        ])
        .args(extra)
        .write_stdin(input)
        .output()
        .unwrap();
    super::store::Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Request records numbered by `range`.
fn records(range: std::ops::Range<usize>) -> String {
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
    input
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
    assert!(
        out.stdout.contains("(12 of 12 lines chain, 12 signed)"),
        "{}",
        out.stdout
    );
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
        out.stdout.starts_with("request req 2 — serve.log:3\n"),
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

/// Rewrites the chain values of `lines[from..]` as an attacker without the key can: the chain
/// is unkeyed SHA-256.
fn rechain(lines: &mut [String], from: usize) {
    use sha2::Digest as _;
    let mut previous = [0u8; 32];
    if from > 0 {
        let (_, chain) = lines[from - 1].rsplit_once(" chain=").unwrap();
        hex::decode_to_slice(chain, &mut previous).unwrap();
    }
    for line in &mut lines[from..] {
        let content = line.rsplit_once(" chain=").unwrap().0.to_owned();
        let chain: [u8; 32] = sha2::Sha256::new_with_prefix(previous)
            .chain_update(content.as_bytes())
            .finalize()
            .into();
        *line = format!("{content} chain={}", hex::encode(chain));
        previous = chain;
    }
}

fn verify_with(dir: &Path, log: &str, extra: &[&str]) -> super::store::Out {
    let mut args = vec!["log", "verify", log, "--pubkey", "keys/public.pem"];
    args.extend_from_slice(extra);
    mlspec(dir, &args)
}

fn audit(dir: &Path, at: &str, extra: &[&str]) -> super::store::Out {
    let mut args = vec!["log", "audit", at, "--package", "model", "--pubkey", "keys/public.pem"];
    args.extend_from_slice(extra);
    mlspec(dir, &args)
}

fn checkpoints(dir: &Path) -> std::path::PathBuf {
    dir.join("serve.log.checkpoints")
}

#[test]
fn an_edited_line_with_a_recomputed_chain_is_not_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 30, "combined");
    let mut forged = lines(dir);
    forged[14] = forged[14].replace(" 200 ", " 500 ");
    rechain(&mut forged, 14);
    write_lines(dir, &forged);
    let out = verify(dir, "combined");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("(30 of 30 lines chain, 10 signed)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("line 20 differs from the signed checkpoint"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("line 30 differs from the signed checkpoint"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("serve.log:11: lines 11–30 (20) come after the last signed checkpoint that holds (line 10)"),
        "{}",
        out.stdout
    );
    // The forged line itself, and a line before the last checkpoint that holds.
    let forged_line = audit(dir, "serve.log:15", &[]);
    assert_eq!(forged_line.code, 1, "{}", forged_line.stdout);
    assert!(
        forged_line.stdout.contains("chain      BROKEN"),
        "{}",
        forged_line.stdout
    );
    let early = audit(dir, "serve.log:5", &[]);
    assert_eq!(early.code, 0, "{}{}", early.stdout, early.stderr);
    assert!(
        early
            .stdout
            .contains("verified from line 1 to this line, signed (checkpoint at line 10)"),
        "{}",
        early.stdout
    );
    // Dropping the checkpoints that disagree leaves the forged lines unsigned.
    let sidecar = std::fs::read_to_string(checkpoints(dir)).unwrap();
    std::fs::write(checkpoints(dir), sidecar.lines().next().unwrap().to_owned() + "\n").unwrap();
    let out = verify(dir, "combined");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("lines 11–30 (20) come after"), "{}", out.stdout);
    assert!(out.stdout.contains("--allow-unsigned-tail"), "{}", out.stdout);
}

#[test]
fn a_deleted_checkpoints_file_leaves_nothing_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 30, "combined");
    std::fs::remove_file(checkpoints(dir)).unwrap();
    let out = verify(dir, "combined");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "serve.log:1: there is no checkpoints file serve.log.checkpoints: none of the 30 lines is signed"
        ),
        "{}",
        out.stdout
    );
    let out = audit(dir, "serve.log:3", &[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("chain      NOT signed"), "{}", out.stdout);
    assert!(!out.stdout.contains("verified from"), "{}", out.stdout);
    // Accepting the risk names it.
    let out = verify_with(dir, "serve.log", &["--allow-unsigned-tail"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "verified: 0 of 30 lines chained and signed (0 signed checkpoints); the last 30 lines are NOT signed"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("30 lines are NOT signed"), "{}", out.stderr);
    let out = audit(dir, "serve.log:3", &["--allow-unsigned-tail"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("intact but NOT signed"), "{}", out.stdout);
    // Without a key nothing is called verified.
    let out = mlspec(dir, &["log", "audit", "serve.log:3", "--package", "model"]);
    assert!(
        out.stdout.contains("NOT verified: an unkeyed chain can be recomputed"),
        "{}",
        out.stdout
    );
}

#[test]
fn checkpoints_of_another_log_vouch_for_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 30, "combined");
    assert_eq!(append_to(dir, "other.log", &records(100..130), &[]).code, 0);
    let own = std::fs::read(checkpoints(dir)).unwrap();
    // Another log's checkpoints, under this log's sidecar name.
    std::fs::copy(dir.join("other.log.checkpoints"), checkpoints(dir)).unwrap();
    let out = verify(dir, "combined");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("signed for the log `other.log`, not `serve.log`"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("none of the 30 lines is signed"), "{}", out.stdout);
    // Another log of the same name (another directory).
    std::fs::create_dir(dir.join("elsewhere")).unwrap();
    std::fs::copy(dir.join("other.log"), dir.join("elsewhere/serve.log")).unwrap();
    std::fs::write(dir.join("elsewhere/serve.log.checkpoints"), &own).unwrap();
    let out = verify_with(dir, "elsewhere/serve.log", &[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("signed for another log (its first line differs"),
        "{}",
        out.stdout
    );
    // A copy of a prefix of this log, with its checkpoints, under another name.
    std::fs::write(checkpoints(dir), &own).unwrap();
    let prefix = lines(dir)[..20].join("\n") + "\n";
    std::fs::write(dir.join("copy.log"), prefix).unwrap();
    std::fs::write(dir.join("copy.log.checkpoints"), &own).unwrap();
    let out = verify_with(dir, "copy.log", &[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("signed for the log `serve.log`, not `copy.log`"),
        "{}",
        out.stdout
    );
    assert_eq!(verify(dir, "combined").code, 0);
}

#[test]
fn lines_appended_after_the_last_checkpoint_are_unsigned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 30, "combined");
    let mut forged = lines(dir);
    let mut extra = forged[29].replace("rid=req%2029", "rid=forged");
    extra = extra.replace("q=29", "q=admin");
    forged.push(extra);
    rechain(&mut forged, 30);
    write_lines(dir, &forged);
    let out = verify(dir, "combined");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("serve.log:31: lines 31–31 (1) come after the last signed checkpoint that holds (line 30)"),
        "{}",
        out.stdout
    );
    let out = audit(dir, "serve.log:31", &[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("not verified: line 31 comes after the last signed checkpoint"),
        "{}",
        out.stdout
    );
    assert_eq!(audit(dir, "serve.log:30", &[]).code, 0);
    let out = verify_with(dir, "serve.log", &["--allow-unsigned-tail"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("30 of 31 lines chained and signed"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("the last 1 lines are NOT signed"), "{}", out.stdout);
    // The next append will not sign over them unless told to.
    let before = std::fs::read(dir.join("serve.log")).unwrap();
    let sidecar = std::fs::read(checkpoints(dir)).unwrap();
    let out = append(dir, 40..41, "combined");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("lines 31–31 (1) come after the last signed checkpoint"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--allow-unsigned-tail"), "{}", out.stderr);
    assert_eq!(std::fs::read(dir.join("serve.log")).unwrap(), before);
    assert_eq!(std::fs::read(checkpoints(dir)).unwrap(), sidecar);
    let out = append_records(dir, &records(40..41), &["--allow-unsigned-tail"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("signing 1 lines that no checkpoint covered"),
        "{}",
        out.stderr
    );
    assert_eq!(verify(dir, "combined").code, 0);
}

#[test]
fn truncation_before_a_checkpoint_and_edited_checkpoints_are_found() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 30, "combined");
    let good = lines(dir);
    // Back to exactly a checkpoint: the later checkpoints say so.
    write_lines(dir, &good[..20]);
    let out = verify(dir, "combined");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("covers line 30; the log has 20 complete lines"),
        "{}",
        out.stdout
    );
    // To nothing at all.
    std::fs::write(dir.join("serve.log"), "").unwrap();
    let out = verify(dir, "combined");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("covers line 10; the log has 0 complete lines"),
        "{}",
        out.stdout
    );
    write_lines(dir, &good);
    let sidecar = std::fs::read_to_string(checkpoints(dir)).unwrap();
    let envelopes: Vec<&str> = sidecar.lines().collect();
    // Every 10 lines, and at the end of the append.
    assert_eq!(envelopes.len(), 4, "{sidecar}");
    let edit = |replaced: &str| {
        let mut edited: Vec<String> = envelopes.iter().map(|l| (*l).to_owned()).collect();
        edited[1] = replaced.to_owned();
        std::fs::write(checkpoints(dir), edited.join("\n") + "\n").unwrap();
        let out = verify(dir, "combined");
        assert_eq!(out.code, 1, "{}", out.stdout);
        out.stdout
    };
    // A payload edited (its base64 changed), the payload type changed, garbage.
    let mut envelope: serde_json::Value = serde_json::from_str(envelopes[1]).unwrap();
    envelope["payload"] = serde_json::Value::String(base64_of(
        &String::from_utf8(base64_decode(envelope["payload"].as_str().unwrap()))
            .unwrap()
            .replace("\"line\":20", "\"line\":29"),
    ));
    let said = edit(&envelope.to_string());
    assert!(
        said.contains("serve.log.checkpoints:2: the checkpoint's signature does not verify with key"),
        "{said}"
    );
    envelope = serde_json::from_str(envelopes[1]).unwrap();
    envelope["payloadType"] = "application/vnd.in-toto+json".into();
    let said = edit(&envelope.to_string());
    assert!(
        said.contains("serve.log.checkpoints:2: is a `application/vnd.in-toto+json` envelope"),
        "{said}"
    );
    let said = edit("{\"not\": \"an envelope\"}");
    assert!(
        said.contains("serve.log.checkpoints:2: is not a checkpoint envelope"),
        "{said}"
    );
    let said = edit(&"x".repeat(70_000));
    assert!(
        said.contains("serve.log.checkpoints:2: is longer than 64 KiB"),
        "{said}"
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn append_refuses_a_file_that_is_not_its_log_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 3, "combined");
    assert_eq!(
        append_to(dir, "json.log", &records(0..3), &["--format", "jsonl"]).code,
        0
    );
    let apache =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/accesslog/sample_combined.log"))
            .unwrap_or_else(|_| {
                b"127.0.0.1 - - [30/Nov/2026:12:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\"\n".to_vec()
            });
    let binary: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 256) as u8).collect();
    let cases: Vec<(&str, Vec<u8>, &[&str], &str)> = vec![
        (
            "text without a trailing newline",
            b"hello\nworld".to_vec(),
            &[],
            "is not an mlspec combined log (line 1",
        ),
        ("one word", b"x".to_vec(), &[], "1 bytes and no complete line"),
        (
            "an empty line",
            b"\n".to_vec(),
            &[],
            "is not an mlspec combined log (line 1",
        ),
        (
            "blank lines",
            b"   \n\n".to_vec(),
            &[],
            "is not an mlspec combined log (line 1",
        ),
        ("binary", binary, &[], "is not an mlspec combined log"),
        (
            "an Apache access log",
            apache,
            &[],
            "is not an mlspec combined log (line 1",
        ),
        (
            "a JSON Lines log",
            std::fs::read(dir.join("json.log")).unwrap(),
            &[],
            "is a jsonl log, not combined",
        ),
        (
            "a Combined log",
            std::fs::read(dir.join("serve.log")).unwrap(),
            &["--format", "jsonl"],
            "is a combined log, not jsonl",
        ),
    ];
    for (what, bytes, extra, said) in cases {
        std::fs::write(dir.join("victim"), &bytes).unwrap();
        let out = append_to(dir, "victim", &records(5..6), extra);
        assert_eq!(out.code, 2, "{what}: {}", out.stderr);
        assert!(out.stderr.contains(said), "{what}: {}", out.stderr);
        assert!(out.stderr.contains("nothing was changed"), "{what}: {}", out.stderr);
        assert_eq!(std::fs::read(dir.join("victim")).unwrap(), bytes, "{what}");
        assert!(!dir.join("victim.checkpoints").exists(), "{what}");
    }
    // A log whose sidecar is not its checkpoints.
    let log = std::fs::read(dir.join("serve.log")).unwrap();
    std::fs::write(checkpoints(dir), "my notes\n").unwrap();
    let out = append(dir, 5..6, "combined");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("serve.log.checkpoints:1: is not a checkpoint envelope"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(dir.join("serve.log")).unwrap(), log);
    assert_eq!(std::fs::read_to_string(checkpoints(dir)).unwrap(), "my notes\n");
    // Checkpoints without their log.
    std::fs::write(dir.join("gone.log.checkpoints"), "my notes\n").unwrap();
    let out = append_to(dir, "gone.log", &records(0..1), &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("gone.log.checkpoints: exists but gone.log does not"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("gone.log.checkpoints")).unwrap(),
        "my notes\n"
    );
    assert!(!dir.join("gone.log").exists());
    // A lock file that is someone else's.
    std::fs::write(dir.join("new.log.lock"), "important\n").unwrap();
    let out = append_to(dir, "new.log", &records(0..1), &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("new.log.lock: is not an mlspec lock file"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("new.log.lock")).unwrap(),
        "important\n"
    );
    assert!(!dir.join("new.log").exists());
}

#[test]
fn concurrent_appenders_take_turns_and_every_line_is_kept() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 1, "combined");
    let spawn = |extra: &[&str]| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("mlspec"))
            .current_dir(dir)
            .args([
                "log",
                "append",
                "serve.log",
                "--key",
                "keys/private.pem",
                "--package",
                "model",
            ])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The first holds the log (its input still open) while the second starts.
    let mut first = spawn(&["--checkpoint-every", "7"]);
    let mut first_input = first.stdin.take().unwrap();
    first_input.write_all(records(1000..1200).as_bytes()).unwrap();
    let holder = format!("mlspec log writer: pid {} on ", first.id());
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(dir.join("serve.log.lock")).is_ok_and(|t| t.starts_with(&holder)) {
        assert!(
            started.elapsed().as_secs() < 60,
            "the first appender never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // One that will not wait names who holds the lock.
    let impatient = append_records(dir, &records(5000..5001), &["--lock-wait", "0"]);
    assert_eq!(impatient.code, 2, "{}", impatient.stderr);
    assert!(
        impatient
            .stderr
            .contains(&format!("another writer holds the log ({holder}")),
        "{}",
        impatient.stderr
    );
    assert!(
        impatient.stderr.contains("`mlspec log append serve.log`"),
        "{}",
        impatient.stderr
    );
    let mut second = spawn(&["--checkpoint-every", "5"]);
    let mut second_input = second.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        second_input.write_all(records(2000..2300).as_bytes()).unwrap();
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    first_input.write_all(records(1200..1300).as_bytes()).unwrap();
    drop(first_input);
    writer.join().unwrap();
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = verify(dir, "combined");
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("verified: 601 lines chained and signed"),
        "{}",
        out.stdout
    );
    let text = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    for i in (1000..1300).chain(2000..2300) {
        assert_eq!(text.matches(&format!(" rid=req%20{i} ")).count(), 1, "request {i}");
    }
}

#[test]
fn hostile_fields_stay_one_request_with_their_values() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    logged(dir, 0, "combined");
    let hostile: Vec<serde_json::Value> = vec![
        serde_json::json!({"method": "GET /admin HTTP/1.1\" 200 1 \"-\" \"x", "path": "/x"}),
        serde_json::json!({"method": "POST", "path": "/a b\"c\\d%41?q=1&r= 2", "protocol": "HTTP/1.1\" 500"}),
        serde_json::json!({"method": "G\"ET\tX", "path": "/\\", "user_agent": "\\", "referer": "\"quoted\" \\\" end\\"}),
        serde_json::json!({"method": "PUT", "path": "/ok", "user_agent": "Mozilla/5.0 (X11) \"evil\" rid=forged chain=0000",
            "user": "- bob", "request_id": "r 4 chain=00 model=x", "output_digest": "sha256:a b\" c"}),
        serde_json::json!({"method": "DELETE\r\n10.0.0.9 - - [30/Nov/2026:12:00:00 +0000] \"GET / HTTP/1.1\" 200 0", "path": "/%0A\n/x"}),
        serde_json::json!({"method": "GET", "path": "/é?\u{1b}[31m", "user_agent": "ü \u{7f}", "user": "-"}),
    ];
    let mut input = String::new();
    let mut expected = Vec::new();
    for (i, fields) in hostile.iter().enumerate() {
        let mut record = serde_json::json!({
            "client": format!("10.0.0.{}", i + 1), "time": "2026-11-30T12:00:00Z", "status": 200,
            "request_id": format!("hostile {i}"), "latency_ms": 1, "output_digest": "sha256:ok",
        });
        for (k, v) in fields.as_object().unwrap() {
            record[k] = v.clone();
        }
        input.push_str(&format!("{record}\n"));
        expected.push(record);
    }
    let out = append_records(dir, &input, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines(dir).len(), hostile.len());
    // goaccess: each line one valid request.
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
        said.contains(&format!(
            "'total_requests': {0}, 'valid_requests': {0}, 'failed_requests': 0",
            hostile.len()
        )),
        "{said}"
    );
    // apachelogs, strictly: every field decodes to the value the serving stack reported.
    let program = r#"
import json, sys, urllib.parse
from apachelogs import LogParser
p = LogParser('%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" rid=%{rid}n model=%{model}n package=%{package}n pipeline=%{pipeline}n data=%{data}n latency_ms=%{latency}n out=%{out}n chain=%{chain}n')
latin = lambda s: None if s is None else s.encode("latin-1").decode("utf-8")
bare = lambda s: None if s is None else urllib.parse.unquote(s)
for e in p.parse_lines(open(sys.argv[1], encoding="utf-8")):
    d = e.directives
    print(json.dumps([latin(e.request_line), bare(e.remote_user), latin(e.headers_in["Referer"]),
        latin(e.headers_in["User-Agent"]), e.final_status, bare(d["%{rid}n"]), bare(d["%{out}n"])]))
"#;
    let python = std::env::var("MLSPEC_INTEROP_PYTHON").expect("run the suite with scripts/test");
    let parsed = std::process::Command::new(python)
        .args(["-c", program])
        .arg(dir.join("serve.log"))
        .output()
        .unwrap();
    assert!(parsed.status.success(), "{}", String::from_utf8_lossy(&parsed.stderr));
    let parsed: Vec<serde_json::Value> = String::from_utf8_lossy(&parsed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed.len(), hostile.len());
    for (record, got) in expected.iter().zip(&parsed) {
        let text = |k: &str| record[k].as_str().map(str::to_owned);
        let request_line = format!(
            "{} {} {}",
            text("method").unwrap(),
            text("path").unwrap(),
            text("protocol").unwrap_or("HTTP/1.1".into())
        );
        let referer = text("referer").filter(|r| r != "-");
        let want = serde_json::json!([
            request_line,
            text("user"),
            referer,
            text("user_agent"),
            200,
            text("request_id"),
            text("output_digest")
        ]);
        assert_eq!(got, &want);
    }
    // audit shows the original values (newlines and tabs shown as \n, \t; other controls escaped).
    let out = audit(dir, "serve.log:1", &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("  request    GET /admin HTTP/1.1\" 200 1 \"-\" \"x /x HTTP/1.1 → 200"),
        "{}",
        out.stdout
    );
    let out = audit(dir, "serve.log:4", &[]);
    assert!(
        out.stdout.starts_with("request r 4 chain=00 model=x — serve.log:4\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("  agent      Mozilla/5.0 (X11) \"evil\" rid=forged chain=0000\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("(user - bob)"), "{}", out.stdout);
    let out = audit(dir, "serve.log:5", &[]);
    assert!(
        out.stdout.contains("  request    DELETE\\r\\n10.0.0.9 - - [30/Nov/2026:12:00:00 +0000] \"GET / HTTP/1.1\" 200 0 /%0A\\n/x HTTP/1.1"),
        "{}",
        out.stdout
    );
    let out = audit(dir, "serve.log:6", &[]);
    assert!(
        out.stdout.contains("  request    GET /é?\\x1b[31m HTTP/1.1"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("(user -)"), "{}", out.stdout);
    // What cannot be a request is refused with its line, before anything is written.
    for (bad, said) in [
        (
            r#"{"client":"1.2.3.4","method":"","path":"/","status":200,"request_id":"a","latency_ms":1}"#,
            "`method` is empty",
        ),
        (
            r#"{"client":"1.2.3.4","method":"GET","path":"/","status":99,"request_id":"a","latency_ms":1}"#,
            "`status` 99 is not an HTTP status",
        ),
        (
            r#"{"client":"1.2.3.4","method":"GET","path":"/","status":200,"request_id":"a","latency_ms":-1}"#,
            "`latency_ms` -1 is negative",
        ),
    ] {
        let out = append_records(dir, &format!("{bad}\n"), &[]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("standard input line 1: {said}")),
            "{}",
            out.stderr
        );
    }
    let long = format!(
        "{{\"client\":\"1.2.3.4\",\"method\":\"GET\",\"path\":\"/{}\",\"status\":200,\"request_id\":\"a\",\"latency_ms\":1}}\n",
        "a".repeat(70_000)
    );
    let out = append_records(dir, &long, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("standard input line 1: longer than 64 KiB"),
        "{}",
        out.stderr
    );
    assert_eq!(lines(dir).len(), hostile.len());
    assert_eq!(verify(dir, "combined").code, 0);
}
