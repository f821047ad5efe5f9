//! DSSE envelopes (Dead Simple Signing Envelope, v1): a payload, its type, and signatures over
//! the Pre-Authentication Encoding
//! `"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload` (lengths as ASCII decimal), so that
//! a signature binds the payload type as well as the bytes. Envelopes are JSON with the payload
//! and signatures in standard base64; both standard and URL-safe base64 are accepted on read,
//! as the specification requires of verifiers.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{AttestError, ErrorKind};
use crate::keys::{PublicKey, SigningKey};

/// The payload type of in-toto statements.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// One signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signing key's id (may be empty).
    #[serde(default)]
    pub keyid: String,
    /// The signature, base64.
    pub sig: String,
}

/// A signed envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload, base64.
    pub payload: String,
    /// What the payload is.
    pub payload_type: String,
    /// Its signatures.
    pub signatures: Vec<Signature>,
}

/// The Pre-Authentication Encoding of a payload and its type.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Decodes standard or URL-safe base64, padded or not.
fn decode(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

/// What verification found: the keys whose signatures hold, and why the others did not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// Key ids with a valid signature.
    pub verified: Vec<String>,
    /// Why each other signature failed.
    pub failures: Vec<String>,
}

impl Envelope {
    /// Signs `payload` of `payload_type` with each key.
    pub fn sign(payload_type: &str, payload: &[u8], keys: &[&SigningKey]) -> Envelope {
        let message = pae(payload_type, payload);
        let engine = base64::engine::general_purpose::STANDARD;
        Envelope {
            payload: engine.encode(payload),
            payload_type: payload_type.to_owned(),
            signatures: keys
                .iter()
                .map(|key| Signature {
                    keyid: key.public().key_id(),
                    sig: engine.encode(key.sign(&message)),
                })
                .collect(),
        }
    }

    /// An envelope from its JSON text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Envelope, AttestError> {
        let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
            AttestError::new(ErrorKind::Malformed, source, format!("is not a DSSE envelope: {e}"))
                .with_hint("an envelope is JSON with payload, payloadType and signatures")
        })?;
        if decode(&envelope.payload).is_none() {
            return Err(AttestError::new(
                ErrorKind::Malformed,
                source,
                "the payload is not base64",
            ));
        }
        Ok(envelope)
    }

    /// The payload's bytes.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, AttestError> {
        decode(&self.payload)
            .ok_or_else(|| AttestError::new(ErrorKind::Malformed, "envelope", "the payload is not base64"))
    }

    /// Checks every signature against the keys (by key id; a signature without one is tried
    /// against every key).
    pub fn verify(&self, keys: &[PublicKey]) -> Result<Verification, AttestError> {
        let message = pae(&self.payload_type, &self.payload_bytes()?);
        let mut found = Verification::default();
        if self.signatures.is_empty() {
            found.failures.push("the envelope has no signature".into());
        }
        for signature in &self.signatures {
            let Some(sig) = decode(&signature.sig) else {
                found
                    .failures
                    .push(format!("the signature by {} is not base64", signature.keyid));
                continue;
            };
            let candidates: Vec<&PublicKey> = keys
                .iter()
                .filter(|k| signature.keyid.is_empty() || k.key_id() == signature.keyid)
                .collect();
            if candidates.is_empty() {
                found
                    .failures
                    .push(format!("no key given has the id {}", signature.keyid));
                continue;
            }
            match candidates.iter().find(|k| k.verify(&message, &sig)) {
                Some(key) => found.verified.push(key.key_id()),
                None => found.failures.push(format!(
                    "the signature by {} does not match the payload",
                    signature.keyid
                )),
            }
        }
        Ok(found)
    }
}
