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

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::digest::Manifest;
use crate::dsse::{Envelope, IN_TOTO};
use crate::error::{AttestError, ErrorKind};
use crate::keys::{PublicKey, SigningKey};
use crate::statement::{Predicate, Statement, Subject};

/// The predicate type.
pub const PREDICATE: &str = "https://model_signing/signature/v1.0";

/// Paths the format leaves out (any path component).
pub const IGNORED: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// The format's predicate: how the directory was serialised, and every file with its digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesSignature {
    /// How the files were hashed.
    pub serialization: Serialization,
    /// The files.
    pub resources: Vec<Resource>,
}

impl Predicate for FilesSignature {
    const TYPE: &'static str = PREDICATE;
}

/// The serialisation a signature was made with (`files`, SHA-256, no symbolic links).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Serialization {
    /// `files`: one digest per file.
    pub method: String,
    /// `sha256`.
    pub hash_type: String,
    /// Whether symbolic links were followed.
    pub allow_symlinks: bool,
    /// The paths left out.
    #[serde(default)]
    pub ignore_paths: Vec<String>,
}

/// One file of the signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// POSIX path relative to the directory.
    pub name: String,
    /// `sha256`.
    pub algorithm: String,
    /// Lowercase hex.
    pub digest: String,
}

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
pub fn statement(name: &str, manifest: &Manifest) -> Statement<FilesSignature> {
    let files = signed_files(manifest);
    let mut root = Sha256::new();
    let mut resources = Vec::new();
    for entry in &files.entries {
        root.update(hex::decode(&entry.digest.sha256).unwrap_or_default());
        resources.push(Resource {
            name: entry.path.clone(),
            algorithm: "sha256".to_owned(),
            digest: entry.digest.sha256.clone(),
        });
    }
    let predicate = FilesSignature {
        serialization: Serialization {
            method: "files".to_owned(),
            hash_type: "sha256".to_owned(),
            allow_symlinks: false,
            ignore_paths: IGNORED.map(str::to_owned).to_vec(),
        },
        resources,
    };
    Statement::new(vec![Subject::sha256(name, &hex::encode(root.finalize()))], predicate)
}

/// The media type of the bundles written.
pub const BUNDLE_V0_3: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A Sigstore bundle as the format uses it in key mode: the key's hint and the envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// [`BUNDLE_V0_3`].
    pub media_type: String,
    /// Which key signed.
    pub verification_material: VerificationMaterial,
    /// The signed statement.
    pub dsse_envelope: Envelope,
}

/// What identifies the signer: in key mode, the public key's hint and no log entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// The key's hint.
    #[serde(default)]
    pub public_key: KeyHint,
    /// Transparency-log entries (none in key mode).
    #[serde(default)]
    pub tlog_entries: Vec<Value>,
}

/// A public key's hint: hex SHA-256 of its SPKI PEM.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHint {
    /// The hint.
    #[serde(default)]
    pub hint: String,
}

/// A signature bundle of the model directory `name` with `manifest`, by an ECDSA P-256 key.
pub fn bundle(key: &SigningKey, name: &str, manifest: &Manifest) -> Result<Bundle, AttestError> {
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
    Ok(Bundle {
        media_type: BUNDLE_V0_3.to_owned(),
        verification_material: VerificationMaterial {
            public_key: KeyHint {
                hint: hex::encode(Sha256::digest(key.public().to_pem()?.as_bytes())),
            },
            tlog_entries: Vec::new(),
        },
        dsse_envelope: envelope,
    })
}

/// Checks a bundle against a key and a model directory's manifest: the problems found (none:
/// verified).
pub fn verify(text: &str, source: &str, public: &PublicKey, manifest: &Manifest) -> Result<Vec<String>, AttestError> {
    let bundle: Bundle = serde_json::from_str(text).map_err(|e| {
        AttestError::new(
            ErrorKind::Malformed,
            source,
            format!("is not a model-signing bundle: {e}"),
        )
    })?;
    let envelope = bundle.dsse_envelope;
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
    let predicate: FilesSignature = statement.predicate_as()?;
    let signed = Manifest::of_digests(predicate.resources.iter().map(|r| (r.name.as_str(), r.digest.as_str())));
    let actual = signed_files(manifest).without_sizes();
    Ok(signed.differences(&actual).iter().map(ToString::to_string).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::digest::{Entry, FileDigest};
    use crate::keys::Algorithm;

    /// The bytes of the statement and the bundle that were built with `json!`, and the tool's
    /// own bundle (the repository's fixture) read back.
    #[test]
    fn bundles_write_the_bytes_they_always_wrote_and_read_the_tools() {
        let manifest = Manifest {
            entries: vec![Entry {
                path: "weights.bin".into(),
                digest: FileDigest {
                    sha256: "ab".repeat(32),
                    size: 1,
                },
            }],
        };
        let statement = statement("model", &manifest);
        let predicate = json!({
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": false, "ignore_paths": IGNORED},
            "resources": [{"name": "weights.bin", "algorithm": "sha256", "digest": "ab".repeat(32)}],
        });
        assert_eq!(
            serde_json::to_string(&statement.predicate).unwrap(),
            predicate.to_string()
        );
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let bundle = bundle(&key, "model", &manifest).unwrap();
        let by_hand = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": bundle.verification_material.public_key.hint}, "tlogEntries": []},
            "dsseEnvelope": bundle.dsse_envelope,
        });
        assert_eq!(
            serde_json::to_string_pretty(&bundle).unwrap(),
            serde_json::to_string_pretty(&by_hand).unwrap()
        );
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/model-signing/fixture/model.sig");
        let theirs: Bundle = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let payload = theirs.dsse_envelope.payload_bytes().unwrap();
        let statement: Statement = serde_json::from_slice(&payload).unwrap();
        let predicate: FilesSignature = statement.predicate_as().unwrap();
        assert_eq!(predicate.serialization.method, "files");
        assert!(predicate.resources.iter().any(|r| r.name == "sub/tok.txt"));
    }
}
