//! The trust chain's pieces against independent answers: the DSSE known-answer vector made
//! with Python's `cryptography` (interop/intoto in the repository/kat), tampering of every kind, and
//! directory manifests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use mlspec_attest::ErrorKind;
use mlspec_attest::digest::{Difference, Manifest};
use mlspec_attest::dsse::{Envelope, IN_TOTO, pae};
use mlspec_attest::keys::{Algorithm, PublicKey, SigningKey, write_key_pair};

fn kat() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/intoto/kat/kat.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn kat_key() -> SigningKey {
    let seed: [u8; 32] = hex::decode(kat()["ed25519_seed_hex_TEST_ONLY"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    SigningKey::ed25519_from_seed(&seed)
}

#[test]
fn the_known_answer_is_reproduced_byte_for_byte() {
    let kat = kat();
    let key = kat_key();
    let public = key.public();
    assert_eq!(public.key_id(), kat["keyid"].as_str().unwrap());
    let payload = kat["payload_utf8"].as_str().unwrap().as_bytes();
    assert_eq!(hex::encode(pae(IN_TOTO, payload)), kat["pae_hex"].as_str().unwrap());
    let envelope = Envelope::sign(IN_TOTO, payload, &[&key]);
    let expected: Envelope = serde_json::from_value(kat["envelope"].clone()).unwrap();
    assert_eq!(envelope, expected);
    let checked = expected.verify(&[public]).unwrap();
    assert_eq!(checked.verified, vec![kat["keyid"].as_str().unwrap().to_owned()]);
    assert!(checked.failures.is_empty());
}

#[test]
fn tampered_envelopes_do_not_verify() {
    let kat = kat();
    let key = kat_key();
    let good: Envelope = serde_json::from_value(kat["envelope"].clone()).unwrap();
    let keys = [key.public()];
    let fails = |envelope: &Envelope| envelope.verify(&keys).unwrap().verified.is_empty();
    // A flipped byte of the payload.
    let mut payload = good.payload_bytes().unwrap();
    payload[20] ^= 1;
    let mut flipped = good.clone();
    flipped.payload = base64_encode(&payload);
    assert!(fails(&flipped));
    // Another payload type (the PAE binds it).
    let mut retyped = good.clone();
    retyped.payload_type = "application/vnd.in-toto.x+json".into();
    assert!(fails(&retyped));
    // A flipped byte of the signature.
    let mut sig = good.clone();
    let mut bytes = base64_decode(&sig.signatures[0].sig);
    bytes[0] ^= 1;
    sig.signatures[0].sig = base64_encode(&bytes);
    assert!(fails(&sig));
    // The wrong key; an unknown key id.
    let other = SigningKey::generate(Algorithm::Ed25519).unwrap().public();
    let wrong = good.verify(&[other]).unwrap();
    assert_eq!(
        wrong.failures,
        vec![format!("no key given has the id {}", kat["keyid"].as_str().unwrap())]
    );
    // No signature at all; a truncated envelope.
    let mut unsigned = good.clone();
    unsigned.signatures.clear();
    assert_eq!(
        unsigned.verify(&keys).unwrap().failures,
        vec!["the envelope has no signature".to_owned()]
    );
    let text = serde_json::to_string(&good).unwrap();
    let truncated = Envelope::parse(&text[..text.len() / 2], "env.json").unwrap_err();
    assert_eq!(truncated.kind, ErrorKind::Malformed, "{truncated}");
    // URL-safe base64 is accepted.
    let mut url_safe = good.clone();
    url_safe.signatures[0].sig = url_safe.signatures[0].sig.replace('+', "-").replace('/', "_");
    assert!(!fails(&url_safe));
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

#[test]
fn ecdsa_keys_sign_in_der_and_round_trip_through_pem() {
    let dir = tempfile::tempdir().unwrap();
    let public = write_key_pair(dir.path(), Algorithm::EcdsaP256, None).unwrap();
    let key = SigningKey::read(&dir.path().join("private.pem")).unwrap();
    assert_eq!(PublicKey::read(&dir.path().join("public.pem")).unwrap(), public);
    let envelope = Envelope::sign(IN_TOTO, b"{}", &[&key]);
    assert_eq!(
        envelope.verify(std::slice::from_ref(&public)).unwrap().verified,
        vec![public.key_id()]
    );
    let sig = base64_decode(&envelope.signatures[0].sig);
    assert_eq!(sig[0], 0x30, "a DER SEQUENCE");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("private.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = write_key_pair(dir.path(), Algorithm::Ed25519, None).unwrap_err();
    assert_eq!(again.kind, ErrorKind::AlreadyExists, "{again}");
    let garbage = SigningKey::from_pem("not a key", "k.pem").unwrap_err();
    assert_eq!(garbage.kind, ErrorKind::Malformed, "{garbage}");
}

#[test]
fn a_manifest_reports_modified_missing_and_extra_files() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir_all(model.join("sub")).unwrap();
    std::fs::write(model.join("weights.bin"), b"hello\n").unwrap();
    std::fs::write(model.join("sub/config.json"), b"{}").unwrap();
    let manifest = Manifest::of(&model).unwrap();
    assert_eq!(
        manifest.lines(),
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a  2  sub/config.json\n\
         5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  6  weights.bin\n"
    );
    assert_eq!(
        manifest.digest(),
        mlspec_spec::newtypes::Digest::sha256_of(manifest.lines())
    );
    std::fs::write(model.join("weights.bin"), b"hellO\n").unwrap();
    std::fs::remove_file(model.join("sub/config.json")).unwrap();
    std::fs::write(model.join("extra.txt"), b"x").unwrap();
    let now = Manifest::of(&model).unwrap();
    assert_eq!(
        manifest.differences(&now),
        vec![
            Difference::Missing("sub/config.json".into()),
            Difference::Modified("weights.bin".into()),
            Difference::Extra("extra.txt".into()),
        ]
    );
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_refused_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(dir.path().join("secret"), b"outside").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret"), model.join("link")).unwrap();
    let error = Manifest::of(&model).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unsupported, "{error}");
    assert!(error.message.contains("is a symbolic link"), "{error}");
    assert!(error.subject.ends_with("link"), "{error}");
}

#[test]
fn a_key_file_carries_its_expiry() {
    use mlspec_attest::keys::KeyFile;
    let dir = tempfile::tempdir().unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let public = write_key_pair(dir.path(), Algorithm::Ed25519, Some(expires)).unwrap();
    let file = KeyFile::read(&dir.path().join("public.pem")).unwrap();
    assert_eq!((file.key.clone(), file.expires), (public, Some(expires)));
    let before = chrono::DateTime::parse_from_rfc3339("2026-12-31T23:59:59Z")
        .unwrap()
        .to_utc();
    assert_eq!(file.expired(before), None);
    let message = file.expired(expires).unwrap();
    assert!(message.contains("expired on 2027-01-01T00:00:00Z"), "{message}");
}

/// A file whose bytes do not match what its metadata said while it was read (here a /proc file:
/// size 0, contents not) is refused, not digested.
#[cfg(target_os = "linux")]
#[test]
fn a_file_that_changes_while_it_is_hashed_is_refused() {
    let error = mlspec_attest::digest::file(Path::new("/proc/self/status")).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Changed, "{error}");
}
