//! The OpenSSF model-signing format (v1.0, key mode), so that packages signed here verify with
//! `model_signing verify key` and the tool's signatures verify here.
//!
//! A signature is a Sigstore bundle (v0.3 JSON) without transparency-log entries: the public
//! key's hint (hex SHA-256 of its SPKI PEM) and a DSSE envelope (empty key id, ECDSA P-256 DER
//! signature) of an in-toto Statement v1 whose predicate
//! (`https://model_signing/signature/v1.0`) lists every file of the model directory — POSIX
//! relative path, sorted — with its SHA-256, and whose one subject is the directory, with the
//! SHA-256 of the concatenated raw file digests. `.git`, `.gitattributes`, `.github` and
//! `.gitignore` are left out, as the tool does.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::digest::Manifest;
use crate::dsse::{Envelope, IN_TOTO};
use crate::error::{AttestError, ErrorKind};
use crate::keys::{PublicKey, SigningKey};
use crate::statement::{Statement, Subject};

/// The predicate type.
pub const PREDICATE: &str = "https://model_signing/signature/v1.0";

/// Paths the format leaves out (any path component).
pub const IGNORED: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// The manifest without the paths the format leaves out.
pub fn signed_files(manifest: &Manifest) -> Manifest {
    Manifest {
        entries: manifest
            .entries
            .iter()
            .filter(|e| !e.path.split('/').any(|part| IGNORED.contains(&part)))
            .cloned()
            .collect(),
    }
}

/// The statement of a model directory called `name`.
pub fn statement(name: &str, manifest: &Manifest) -> Statement {
    let files = signed_files(manifest);
    let mut root = Sha256::new();
    let mut resources = Vec::new();
    for entry in &files.entries {
        root.update(hex::decode(&entry.digest.sha256).unwrap_or_default());
        resources.push(json!({"name": entry.path, "algorithm": "sha256", "digest": entry.digest.sha256}));
    }
    let subject = Subject {
        name: name.to_owned(),
        digest: [("sha256".to_owned(), hex::encode(root.finalize()))]
            .into_iter()
            .collect(),
    };
    Statement::new(
        vec![subject],
        PREDICATE,
        json!({
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": false, "ignore_paths": IGNORED},
            "resources": resources,
        }),
    )
}

/// A signature bundle of the model directory `name` with `manifest`, by an ECDSA P-256 key.
pub fn bundle(key: &SigningKey, name: &str, manifest: &Manifest) -> Result<Value, AttestError> {
    if !matches!(key, SigningKey::EcdsaP256(_)) {
        return Err(AttestError::new(
            ErrorKind::InvalidArgument,
            "--model-signing",
            "the model-signing format's key mode takes ECDSA keys",
        )
        .with_hint("make one with `mlspec keygen --algorithm ecdsa-p256`"));
    }
    let payload = serde_json::to_vec(&statement(name, manifest))
        .map_err(|e| AttestError::new(ErrorKind::Internal, "statement", e.to_string()))?;
    let mut envelope = Envelope::sign(IN_TOTO, &payload, &[key]);
    for signature in &mut envelope.signatures {
        signature.keyid.clear();
    }
    let hint = hex::encode(Sha256::digest(key.public().to_pem()?.as_bytes()));
    Ok(json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
        "dsseEnvelope": envelope,
    }))
}

/// Checks a bundle against a key and a model directory's manifest: the problems found (none:
/// verified).
pub fn verify(text: &str, source: &str, public: &PublicKey, manifest: &Manifest) -> Result<Vec<String>, AttestError> {
    let bundle: Value = serde_json::from_str(text).map_err(|e| {
        AttestError::new(
            ErrorKind::Malformed,
            source,
            format!("is not a model-signing bundle: {e}"),
        )
    })?;
    let envelope = Envelope::parse(&bundle["dsseEnvelope"].to_string(), source)?;
    let checked = envelope.verify(std::slice::from_ref(public))?;
    if checked.verified.is_empty() {
        return Ok(checked.failures);
    }
    let statement: Statement = serde_json::from_slice(&envelope.payload_bytes()?).map_err(|e| {
        AttestError::new(
            ErrorKind::Malformed,
            source,
            format!("the payload is not an in-toto statement: {e}"),
        )
    })?;
    if statement.predicate_type != PREDICATE {
        return Ok(vec![format!(
            "the predicate is {}, not {PREDICATE}",
            statement.predicate_type
        )]);
    }
    let resources = statement.predicate["resources"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let signed = Manifest::of_digests(resources.iter().map(|r| {
        (
            r["name"].as_str().unwrap_or_default(),
            r["digest"].as_str().unwrap_or_default(),
        )
    }));
    let actual = signed_files(manifest).without_sizes();
    Ok(signed.differences(&actual).iter().map(ToString::to_string).collect())
}
