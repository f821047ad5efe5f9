//! Keys, model packages and their attestations, against securesystemslib and
//! in-toto-attestation (interop/intoto in the repository), and every kind of tampering.

use std::path::{Path, PathBuf};

use super::store::mlspec;

fn python() -> String {
    std::env::var("MLSPEC_INTEROP_PYTHON")
        .expect("MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which installs securesystemslib")
}

fn interop(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop/intoto")
        .join(script)
}

fn run_python(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(python()).args(args).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// securesystemslib's key id and key dictionary for a PEM public key.
fn sslib_key(public: &Path) -> (String, String) {
    let code = "import json, sys\n\
from cryptography.hazmat.primitives.serialization import load_pem_public_key\n\
from securesystemslib.signer import SSlibKey\n\
k = SSlibKey.from_crypto(load_pem_public_key(open(sys.argv[1], 'rb').read()))\n\
print(k.keyid); print(json.dumps(k.to_dict()))";
    let (ok, said) = run_python(&["-c", code, public.to_str().unwrap()]);
    assert!(ok, "{said}");
    let mut lines = said.lines();
    (lines.next().unwrap().to_owned(), lines.next().unwrap().to_owned())
}

/// A model directory, packaged and signed with a new key of `algorithm`; the key id.
fn signed_package(dir: &Path, algorithm: &str) -> String {
    std::fs::create_dir_all(dir.join("model/sub")).unwrap();
    std::fs::write(dir.join("model/weights.bin"), b"weights\n").unwrap();
    std::fs::write(dir.join("model/sub/config.json"), b"{}").unwrap();
    let keygen = mlspec(dir, &["keygen", "--out", "keys", "--algorithm", algorithm]);
    assert_eq!(keygen.code, 0, "{}", keygen.stderr);
    let build = mlspec(
        dir,
        &[
            "package",
            "build",
            "model",
            "--name",
            "churn",
            "--version",
            "1.0.0",
            "--format",
            "test",
            "--no-record",
        ],
    );
    assert_eq!(build.code, 0, "{}", build.stderr);
    let sign = mlspec(dir, &["package", "sign", "model", "--key", "keys/private.pem"]);
    assert_eq!(sign.code, 0, "{}", sign.stderr);
    keygen.stdout.trim().to_owned()
}

fn first_envelope(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(dir.join("model/mlspec-package.intoto.jsonl")).unwrap();
    let path = dir.join("envelope.json");
    std::fs::write(&path, text.lines().next().unwrap()).unwrap();
    path
}

#[test]
fn our_envelopes_verify_with_securesystemslib_and_parse_as_in_toto() {
    for algorithm in ["ed25519", "ecdsa-p256"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let key_id = signed_package(dir, algorithm);
        let (sslib_id, dict) = sslib_key(&dir.join("keys/public.pem"));
        assert_eq!(key_id, sslib_id, "{algorithm}: our key id is securesystemslib's");
        std::fs::write(dir.join("pubkeys.json"), format!("{{\"{key_id}\": {dict}}}")).unwrap();
        let envelope = first_envelope(dir);
        let (ok, said) = run_python(&[
            interop("verify_sslib.py").to_str().unwrap(),
            envelope.to_str().unwrap(),
            dir.join("pubkeys.json").to_str().unwrap(),
            dir.join("model/weights.bin").to_str().unwrap(),
        ]);
        assert!(ok, "{algorithm}: {said}");
        assert!(said.contains("SLSA provenance v1 OK"), "{said}");
        assert!(said.contains("subject sha256 matches"), "{said}");
    }
}

#[test]
fn envelopes_signed_by_securesystemslib_verify_with_mlspec() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    signed_package(dir, "ed25519");
    let envelope: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first_envelope(dir)).unwrap()).unwrap();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    std::fs::write(dir.join("statement.json"), payload).unwrap();
    let (ok, said) = run_python(&[
        interop("sign_sslib.py").to_str().unwrap(),
        dir.join("keys/private.pem").to_str().unwrap(),
        dir.join("statement.json").to_str().unwrap(),
        dir.join("sslib.json").to_str().unwrap(),
    ]);
    assert!(ok, "{said}");
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sslib.json")).unwrap()).unwrap();
    std::fs::write(dir.join("model/mlspec-package.intoto.jsonl"), format!("{theirs}\n")).unwrap();
    let out = mlspec(dir, &["package", "verify", "model", "--pubkey", "keys/public.pem"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn every_kind_of_tampering_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    signed_package(dir, "ed25519");
    let verify = |pubkey: &str| mlspec(dir, &["package", "verify", "model", "--pubkey", pubkey]);
    assert_eq!(verify("keys/public.pem").code, 0);
    // Files: modified, missing, extra; the package document itself is signed too.
    std::fs::write(dir.join("model/weights.bin"), b"weightz\n").unwrap();
    std::fs::remove_file(dir.join("model/sub/config.json")).unwrap();
    std::fs::write(dir.join("model/extra.txt"), b"x").unwrap();
    let package = std::fs::read_to_string(dir.join("model/mlspec-package.yaml")).unwrap();
    std::fs::write(dir.join("model/mlspec-package.yaml"), package.replace("1.0.0", "1.0.1")).unwrap();
    let out = verify("keys/public.pem");
    assert_eq!(out.code, 1);
    insta::assert_snapshot!("package_verify_tampered", out.stdout);
    // Another key; an envelope with a flipped byte; a truncated one (exit 2: unreadable).
    std::fs::write(dir.join("model/weights.bin"), b"weights\n").unwrap();
    assert_eq!(mlspec(dir, &["keygen", "--out", "other"]).code, 0);
    let wrong = verify("other/public.pem");
    assert_eq!(wrong.code, 1);
    assert!(wrong.stdout.contains("no key given has the id"), "{}", wrong.stdout);
    let envelopes = dir.join("model/mlspec-package.intoto.jsonl");
    let text = std::fs::read_to_string(&envelopes).unwrap();
    let mut envelope: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let sig = envelope["signatures"][0]["sig"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('A') {
        sig.replacen('A', "B", 1)
    } else {
        format!("A{}", &sig[1..])
    };
    envelope["signatures"][0]["sig"] = flipped.into();
    std::fs::write(&envelopes, format!("{envelope}\n")).unwrap();
    let out = verify("keys/public.pem");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("does not match the payload"), "{}", out.stdout);
    std::fs::write(&envelopes, &text[..text.len() / 2]).unwrap();
    let out = verify("keys/public.pem");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is not a DSSE envelope"), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn a_link_out_of_the_model_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("model")).unwrap();
    std::fs::write(dir.join("model/weights.bin"), b"w").unwrap();
    std::fs::write(dir.join("secret"), b"s").unwrap();
    std::os::unix::fs::symlink(dir.join("secret"), dir.join("model/link")).unwrap();
    let out = mlspec(
        dir,
        &[
            "package",
            "build",
            "model",
            "--name",
            "m",
            "--version",
            "1",
            "--no-record",
        ],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is a symbolic link"), "{}", out.stderr);
}

/// The OpenSSF model-signing tool that scripts/interop-setup installs beside the interop venv.
fn model_signing() -> PathBuf {
    super::interop::beside_interop_venv("-model-signing", "model_signing")
}

#[test]
fn model_signing_signatures_verify_both_ways() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/model-signing/fixture");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The tool's signature of its fixture verifies here; a changed file does not.
    let copy = |to: &str| {
        let out = std::process::Command::new("cp")
            .args([
                "-r",
                fixture.join("model").to_str().unwrap(),
                dir.join(to).to_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(out.success());
    };
    copy("theirs");
    let args = |pubkey: &Path, sig: &Path| {
        vec![
            "package".to_owned(),
            "verify".into(),
            "theirs".into(),
            "--pubkey".into(),
            pubkey.display().to_string(),
            "--model-signing".into(),
            sig.display().to_string(),
        ]
    };
    let theirs = args(&fixture.join("ecdsa.pub.pem"), &fixture.join("model.sig"));
    let theirs: Vec<&str> = theirs.iter().map(String::as_str).collect();
    let out = mlspec(dir, &theirs);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    std::fs::write(dir.join("theirs/config.json"), b"{\"changed\": true}").unwrap();
    let out = mlspec(dir, &theirs);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("modified: config.json"), "{}", out.stdout);

    // Ours verifies with the tool.
    copy("model");
    assert_eq!(
        mlspec(dir, &["keygen", "--out", "keys", "--algorithm", "ecdsa-p256"]).code,
        0
    );
    assert_eq!(
        mlspec(
            dir,
            &[
                "package",
                "build",
                "model",
                "--name",
                "m",
                "--version",
                "1",
                "--no-record"
            ]
        )
        .code,
        0
    );
    let sign = mlspec(
        dir,
        &[
            "package",
            "sign",
            "model",
            "--key",
            "keys/private.pem",
            "--model-signing",
            "ours.sig",
        ],
    );
    assert_eq!(sign.code, 0, "{}", sign.stderr);
    let tool = std::process::Command::new(model_signing())
        .args([
            "verify",
            "key",
            "--public_key",
            "keys/public.pem",
            "--signature",
            "ours.sig",
            "model",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        tool.status.success(),
        "{}{}",
        String::from_utf8_lossy(&tool.stdout),
        String::from_utf8_lossy(&tool.stderr)
    );
    // An Ed25519 key is refused for this format, with what to do.
    assert_eq!(mlspec(dir, &["keygen", "--out", "ed"]).code, 0);
    let refused = mlspec(
        dir,
        &[
            "package",
            "sign",
            "model",
            "--key",
            "ed/private.pem",
            "--model-signing",
            "ed.sig",
        ],
    );
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("takes ECDSA keys"), "{}", refused.stderr);
}

#[test]
fn signed_datasets_report_modified_missing_and_extra_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("shards")).unwrap();
    for i in 0..3 {
        std::fs::write(dir.join(format!("shards/part-{i}.csv")), format!("a,b\n{i},x\n")).unwrap();
    }
    assert_eq!(mlspec(dir, &["keygen", "--out", "keys"]).code, 0);
    let sign = mlspec(
        dir,
        &[
            "data",
            "sign",
            "shards",
            "--key",
            "keys/private.pem",
            "--out",
            "shards.intoto.json",
        ],
    );
    assert_eq!(sign.code, 0, "{}", sign.stderr);
    let verify = |inputs: &[&str]| {
        let mut args = vec!["data", "verify"];
        args.extend(inputs);
        args.extend(["--envelope", "shards.intoto.json", "--pubkey", "keys/public.pem"]);
        mlspec(dir, &args)
    };
    assert_eq!(verify(&["shards"]).code, 0);
    // The envelope is a standard one: securesystemslib verifies it too.
    let (key_id, dict) = sslib_key(&dir.join("keys/public.pem"));
    std::fs::write(dir.join("pubkeys.json"), format!("{{\"{key_id}\": {dict}}}")).unwrap();
    let (ok, said) = run_python(&[
        interop("verify_sslib.py").to_str().unwrap(),
        dir.join("shards.intoto.json").to_str().unwrap(),
        dir.join("pubkeys.json").to_str().unwrap(),
        dir.join("shards/part-1.csv").to_str().unwrap(),
    ]);
    assert!(ok, "{said}");
    std::fs::write(dir.join("shards/part-0.csv"), "a,b\n0,y\n").unwrap();
    std::fs::remove_file(dir.join("shards/part-1.csv")).unwrap();
    std::fs::write(dir.join("shards/part-9.csv"), "a,b\n").unwrap();
    let out = verify(&["shards"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stdout,
        "not verified:\n  modified shard: part-0.csv\n  missing shard: part-1.csv\n  extra shard: part-9.csv\n"
    );
    // Files given one by one; another key.
    let files = mlspec(
        dir,
        &[
            "data",
            "sign",
            "shards/part-2.csv",
            "shards/part-9.csv",
            "--key",
            "keys/private.pem",
            "--out",
            "two.json",
        ],
    );
    assert_eq!(files.code, 0, "{}", files.stderr);
    assert_eq!(mlspec(dir, &["keygen", "--out", "other"]).code, 0);
    let wrong = mlspec(
        dir,
        &[
            "data",
            "verify",
            "shards/part-2.csv",
            "shards/part-9.csv",
            "--envelope",
            "two.json",
            "--pubkey",
            "other/public.pem",
        ],
    );
    assert_eq!(wrong.code, 1);
    assert!(wrong.stdout.contains("no key given has the id"), "{}", wrong.stdout);
}

#[test]
fn an_expired_key_is_not_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    signed_package(dir, "ed25519");
    // A key that expires at once: what it signed is no longer verified.
    assert_eq!(mlspec(dir, &["keygen", "--out", "old", "--expires-in", "0"]).code, 0);
    let public = std::fs::read_to_string(dir.join("old/public.pem")).unwrap();
    assert!(public.starts_with("Expires: "), "{public}");
    assert_eq!(
        mlspec(dir, &["package", "sign", "model", "--key", "old/private.pem"]).code,
        0
    );
    let out = mlspec(dir, &["package", "verify", "model", "--pubkey", "old/public.pem"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("expired on"), "{}", out.stdout);
    // securesystemslib's reader skips the Expires line, as RFC 7468 allows.
    let (key_id, _) = sslib_key(&dir.join("old/public.pem"));
    assert_eq!(key_id.len(), 64);
}

/// Every command that writes a named file writes it whole, and never over a file that is not
/// what it writes: keys, envelopes, schemas, documents.
#[test]
fn no_command_overwrites_a_file_it_does_not_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let precious = "name,score\nada,1\n";
    let unchanged = |path: &str| assert_eq!(std::fs::read_to_string(dir.join(path)).unwrap(), precious, "{path}");
    // keygen: an existing public key (or private key) is never replaced.
    std::fs::create_dir(dir.join("keys")).unwrap();
    std::fs::write(dir.join("keys/public.pem"), precious).unwrap();
    let out = mlspec(dir, &["keygen", "--out", "keys"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("keys/public.pem: already exists; it is not overwritten"),
        "{}",
        out.stderr
    );
    unchanged("keys/public.pem");
    assert!(!dir.join("keys/private.pem").exists());
    assert_eq!(mlspec(dir, &["keygen", "--out", "fresh"]).code, 0);
    // data sign --out: a data file is not an envelope.
    std::fs::create_dir(dir.join("shards")).unwrap();
    std::fs::write(dir.join("shards/part-0.csv"), precious).unwrap();
    std::fs::write(dir.join("scores.csv"), precious).unwrap();
    let sign = |out: &str| {
        mlspec(
            dir,
            &["data", "sign", "shards", "--key", "fresh/private.pem", "--out", out],
        )
    };
    let out = sign("scores.csv");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("scores.csv exists and is not a DSSE envelope; it is not overwritten"),
        "{}",
        out.stderr
    );
    unchanged("scores.csv");
    assert_eq!(sign("shards.intoto.json").code, 0);
    assert_eq!(sign("shards.intoto.json").code, 0, "its own envelope is replaced");
    // data profile --out: only a document is replaced.
    let profile = |out: &str| {
        mlspec(
            dir,
            &[
                "data",
                "profile",
                "shards/part-0.csv",
                "--out",
                out,
                "--quiet",
                "--no-record",
            ],
        )
    };
    let out = profile("scores.csv");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is not an MLSpec document"), "{}", out.stderr);
    unchanged("scores.csv");
    assert_eq!(profile("profile.yaml").code, 0);
    assert_eq!(profile("profile.yaml").code, 0, "its own document is replaced");
    // schema --export: only schemas are replaced.
    std::fs::create_dir(dir.join("schemas")).unwrap();
    std::fs::write(dir.join("schemas/artifact.json"), precious).unwrap();
    let out = mlspec(dir, &["schema", "--export", "schemas"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("artifact.json exists and is not a JSON Schema"),
        "{}",
        out.stderr
    );
    unchanged("schemas/artifact.json");
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = walk(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
