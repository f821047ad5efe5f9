//! Signing keys: Ed25519 (the default) and ECDSA P-256 (what the OpenSSF model-signing tool's
//! key mode uses), as PKCS#8 PEM private keys and SPKI PEM public keys.
//!
//! A key's **id** follows securesystemslib, so that its DSSE verifier matches our envelopes'
//! signatures to keys: the lowercase hex SHA-256 of the canonical JSON (sorted keys, no
//! spaces, only `"` and `\` escaped) of `{"keytype", "keyval": {"public"}, "scheme"}` —
//! `ed25519`/`ed25519` with the raw public key in hex, and `ecdsa`/`ecdsa-sha2-nistp256` with
//! the SPKI PEM. ECDSA signatures are DER-encoded (as securesystemslib and model-signing write
//! them); Ed25519 signatures are the 64 raw bytes and verified strictly.

use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::LineEnding;
use sha2::{Digest as _, Sha256};

use crate::error::{AttestError, ErrorKind};

/// A signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256.
    EcdsaP256,
}

/// A private key.
#[derive(Clone)]
pub enum SigningKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// ECDSA P-256.
    EcdsaP256(p256::ecdsa::SigningKey),
}

/// A public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ECDSA P-256.
    EcdsaP256(p256::ecdsa::VerifyingKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public().key_id())
    }
}

fn random_bytes() -> Result<[u8; 32], AttestError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        AttestError::new(
            ErrorKind::Internal,
            "keygen",
            format!("the system's random source failed: {e}"),
        )
    })?;
    Ok(bytes)
}

impl SigningKey {
    /// A new random key.
    pub fn generate(algorithm: Algorithm) -> Result<SigningKey, AttestError> {
        Ok(match algorithm {
            Algorithm::Ed25519 => SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&random_bytes()?)),
            Algorithm::EcdsaP256 => loop {
                // A scalar at or above the group order (probability ~2⁻³²) is drawn again.
                if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&random_bytes()?) {
                    break SigningKey::EcdsaP256(key);
                }
            },
        })
    }

    /// The Ed25519 key of a 32-byte seed (deterministic; for tests and known answers).
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        match self {
            SigningKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            SigningKey::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
        }
    }

    /// Signs `message`: Ed25519's 64 bytes, or an ECDSA signature in DER.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Ed25519(k) => ed25519_dalek::Signer::sign(k, message).to_bytes().to_vec(),
            SigningKey::EcdsaP256(k) => {
                let signature: p256::ecdsa::DerSignature = k.sign(message);
                signature.as_bytes().to_vec()
            }
        }
    }

    /// The PKCS#8 PEM text.
    pub fn to_pem(&self) -> Result<String, AttestError> {
        let pem = match self {
            // PKCS#8 v1 (the seed alone): v2's embedded public key is refused by some readers
            // (Python's `cryptography`: "extra data").
            SigningKey::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_pem(LineEnding::LF),
            SigningKey::EcdsaP256(k) => k.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|e| AttestError::new(ErrorKind::Internal, "key", format!("cannot encode the key: {e}")))?;
        Ok(pem.as_str().to_owned())
    }

    /// A key from PKCS#8 PEM text (Ed25519 or ECDSA P-256); `source` names it in errors.
    pub fn from_pem(text: &str, source: &str) -> Result<SigningKey, AttestError> {
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            return Ok(SigningKey::Ed25519(key));
        }
        p256::ecdsa::SigningKey::from_pkcs8_pem(text)
            .map(SigningKey::EcdsaP256)
            .map_err(|_| {
                AttestError::new(
                    ErrorKind::Malformed,
                    source,
                    "is not a PKCS#8 PEM private key of Ed25519 or ECDSA P-256",
                )
                .with_hint("make one with `mlspec keygen --out KEYDIR`")
            })
    }

    /// Reads a PKCS#8 PEM private key file.
    pub fn read(path: &Path) -> Result<SigningKey, AttestError> {
        let (name, text) = read_key_text(path)?;
        SigningKey::from_pem(&text, &name)
    }
}

impl PublicKey {
    /// The SPKI PEM text.
    pub fn to_pem(&self) -> Result<String, AttestError> {
        match self {
            PublicKey::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::EcdsaP256(k) => k.to_public_key_pem(LineEnding::LF),
        }
        .map_err(|e| AttestError::new(ErrorKind::Internal, "key", format!("cannot encode the public key: {e}")))
    }

    /// A key from SPKI PEM text (text before the PEM block, such as an `Expires:` line, is
    /// ignored); `source` names it in errors.
    pub fn from_pem(text: &str, source: &str) -> Result<PublicKey, AttestError> {
        let text = text.find("-----BEGIN").and_then(|at| text.get(at..)).unwrap_or(text);
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(text) {
            return Ok(PublicKey::Ed25519(key));
        }
        p256::ecdsa::VerifyingKey::from_public_key_pem(text)
            .map(PublicKey::EcdsaP256)
            .map_err(|_| {
                AttestError::new(
                    ErrorKind::Malformed,
                    source,
                    "is not a PEM public key of Ed25519 or ECDSA P-256",
                )
                .with_hint("pass the public.pem that `mlspec keygen` wrote")
            })
    }

    /// Reads a PEM public key file.
    pub fn read(path: &Path) -> Result<PublicKey, AttestError> {
        let (name, text) = read_key_text(path)?;
        PublicKey::from_pem(&text, &name)
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(k) => {
                ed25519_dalek::Signature::from_slice(signature).is_ok_and(|s| k.verify_strict(message, &s).is_ok())
            }
            PublicKey::EcdsaP256(k) => {
                p256::ecdsa::Signature::from_der(signature).is_ok_and(|s| k.verify(message, &s).is_ok())
            }
        }
    }

    /// securesystemslib's key type, scheme and public value.
    fn sslib(&self) -> (&'static str, &'static str, String) {
        match self {
            PublicKey::Ed25519(k) => ("ed25519", "ed25519", hex::encode(k.as_bytes())),
            PublicKey::EcdsaP256(_) => ("ecdsa", "ecdsa-sha2-nistp256", self.to_pem().unwrap_or_default()),
        }
    }

    /// The key's securesystemslib dictionary: `{"keytype", "scheme", "keyval": {"public"}}`.
    pub fn sslib_dict(&self) -> serde_json::Value {
        let (keytype, scheme, public) = self.sslib();
        serde_json::json!({"keytype": keytype, "scheme": scheme, "keyval": {"public": public}})
    }

    /// The key id: hex SHA-256 of the canonical JSON of its securesystemslib dictionary.
    pub fn key_id(&self) -> String {
        let (keytype, scheme, public) = self.sslib();
        let canonical = format!(
            "{{\"keytype\":{},\"keyval\":{{\"public\":{}}},\"scheme\":{}}}",
            canonical_string(keytype),
            canonical_string(&public),
            canonical_string(scheme)
        );
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// A string in canonical JSON (OLPC): quoted, with only `"` and `\` escaped.
fn canonical_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A public key file as `mlspec keygen` writes it: the PEM, preceded by an
/// `Expires: <RFC 3339 time>` line when the key has an end of validity (RFC 7468 lets
/// explanatory text precede the block; PEM readers skip it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFile {
    /// The key.
    pub key: PublicKey,
    /// When it stops being valid.
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
}

impl KeyFile {
    /// Reads a public key file.
    pub fn read(path: &Path) -> Result<KeyFile, AttestError> {
        let (name, text) = read_key_text(path)?;
        let expires = text
            .lines()
            .take_while(|l| !l.starts_with("-----BEGIN"))
            .find_map(|l| l.strip_prefix("Expires:"))
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t.trim())
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|e| {
                        AttestError::new(
                            ErrorKind::Malformed,
                            &name,
                            format!("the Expires line is not an RFC 3339 time: {e}"),
                        )
                    })
            })
            .transpose()?;
        Ok(KeyFile {
            key: PublicKey::from_pem(&text, &name)?,
            expires,
        })
    }

    /// Why the key may not be used at `now`, if it may not.
    pub fn expired(&self, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
        self.expires.filter(|e| *e <= now).map(|e| {
            format!(
                "the key {} expired on {}; its signatures are no longer accepted",
                self.key.key_id(),
                e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        })
    }
}

/// Writes a new key pair to `dir`: `private.pem` (PKCS#8, mode 0600) and `public.pem` (with
/// its `Expires:` line when `expires` is given); the key id. Existing keys are not overwritten.
pub fn write_key_pair(
    dir: &Path,
    algorithm: Algorithm,
    expires: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<PublicKey, AttestError> {
    let name = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| AttestError::new(ErrorKind::Io, &name, format!("cannot create: {e}")))?;
    let private = dir.join("private.pem");
    let public_path = dir.join("public.pem");
    if let Some(existing) = [&private, &public_path].into_iter().find(|p| p.exists()) {
        return Err(AttestError::new(
            ErrorKind::AlreadyExists,
            existing.display().to_string(),
            "already exists; it is not overwritten",
        )
        .with_hint("choose another --out directory, or remove the old key first"));
    }
    let key = SigningKey::generate(algorithm)?;
    let public = key.public();
    let header = expires
        .map(|e| format!("Expires: {}\n", e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or_default();
    write_new(&private, &key.to_pem()?, 0o600)?;
    write_new(&public_path, &(header + &public.to_pem()?), 0o644)?;
    Ok(public)
}

/// Writes a file whole (a temporary file beside it, synced, then linked into place) with
/// `mode`, never over an existing file.
fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), AttestError> {
    use std::io::Write as _;
    let cannot =
        |e: std::io::Error| AttestError::new(ErrorKind::Io, path.display().to_string(), format!("cannot write: {e}"));
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Created readable by its owner only; widened (for a public key) once written.
    let mut file = tempfile::Builder::new()
        .prefix(".mlspec-key-")
        .tempfile_in(dir)
        .map_err(cannot)?;
    file.write_all(text.as_bytes()).map_err(cannot)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(cannot)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.as_file().sync_all().map_err(cannot)?;
    file.persist_noclobber(path).map_err(|e| cannot(e.error))?;
    Ok(())
}

/// The most bytes a key file may have: a PEM key is a few hundred.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// A key file's name and text; a FIFO, device or directory, or a file over
/// [`MAX_KEY_FILE_BYTES`], is refused before it is read.
fn read_key_text(path: &Path) -> Result<(String, String), AttestError> {
    let text = crate::files::read_text(
        path,
        MAX_KEY_FILE_BYTES,
        "a key file",
        "give the PEM key file that `mlspec keygen` wrote",
    )?;
    Ok((path.display().to_string(), text))
}
