//! Any bytes as an inference log (both layouts) with any checkpoint sidecar, as a DSSE
//! envelope, and as a model-signing bundle: verification must never panic, and a log written
//! by the writer must verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_attest::digest::Manifest;
use mlspec_attest::dsse::Envelope;
use mlspec_attest::keys::SigningKey;
use mlspec_attest::log::{Layout, checkpoints_path, verify};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let key = SigningKey::ed25519_from_seed(&[7u8; 32]).public();
    let log = dir.path().join("serve.log");
    let split = data.len() / 2;
    if std::fs::write(&log, data).is_err() || std::fs::write(checkpoints_path(&log), &data[split..]).is_err() {
        return;
    }
    for layout in [Layout::Combined, Layout::JsonLines] {
        if let Ok(report) = verify(&log, &key, layout) {
            assert!(report.verified <= report.lines);
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(envelope) = Envelope::parse(&text, "fuzz") {
        let _ = envelope.verify(std::slice::from_ref(&key));
    }
    let _ = mlspec_attest::model_signing::verify(&text, "fuzz", &key, &Manifest::default());
});
