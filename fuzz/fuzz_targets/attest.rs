//! Any bytes as an inference log (both layouts) with any checkpoint sidecar — including a
//! correctly signed checkpoint whose payload is any bytes — as a log line, as a DSSE envelope
//! and as a model-signing bundle: verification and parsing must never panic. Any fields as a
//! request: the writer's line verifies, and reads back to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_attest::digest::Manifest;
use mlspec_attest::dsse::Envelope;
use mlspec_attest::keys::SigningKey;
use mlspec_attest::log::{
    Binding, CHECKPOINT_TYPE, Layout, LogOptions, LogWriter, Request, UnsignedTail, checkpoints_path, parse, verify,
};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let signing = SigningKey::ed25519_from_seed(&[7u8; 32]);
    let key = signing.public();
    let log = dir.path().join("serve.log");
    let split = data.len() / 2;
    // Any sidecar, then a signed checkpoint with any payload after it.
    let mut sidecar = data[split..].to_vec();
    let signed = Envelope::sign(CHECKPOINT_TYPE, &data[..split], &[&signing]);
    sidecar.push(b'\n');
    sidecar.extend(serde_json::to_vec(&signed).unwrap_or_default());
    sidecar.push(b'\n');
    if std::fs::write(&log, data).is_err() || std::fs::write(checkpoints_path(&log), &sidecar).is_err() {
        return;
    }
    for layout in [Layout::Combined, Layout::JsonLines] {
        for tail in [UnsignedTail::Refuse, UnsignedTail::Allow] {
            if let Ok(report) = verify(&log, &key, layout, tail) {
                assert!(report.verified <= report.lines);
                assert!(report.covered <= report.lines);
            }
        }
    }
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(8) {
        let _ = parse(line, Layout::Combined);
        let _ = parse(line, Layout::JsonLines);
    }
    if let Ok(envelope) = Envelope::parse(&text, "fuzz") {
        let _ = envelope.verify(std::slice::from_ref(&key));
    }
    let _ = mlspec_attest::model_signing::verify(&text, "fuzz", &key, &Manifest::default());
    round_trip(dir.path(), data, &signing);
});

/// Any fields (separated by 0xFF) as a request: written, verified, read back.
fn round_trip(dir: &std::path::Path, data: &[u8], signing: &SigningKey) {
    let mut fields = data.split(|b| *b == 0xFF).map(|f| String::from_utf8_lossy(f).into_owned());
    let mut next = || fields.next().unwrap_or_default();
    let request = Request {
        client: next(),
        user: Some(next()),
        method: next(),
        path: next(),
        protocol: Some(next()).filter(|p| !p.is_empty()),
        status: 200,
        referer: Some(next()),
        user_agent: Some(next()),
        request_id: next(),
        latency_ms: 1.0,
        output_digest: Some(next()),
        ..Request::default()
    };
    if request.check().is_err() {
        return;
    }
    let binding = Binding {
        model: next(),
        package: "sha256:p".into(),
        pipeline: "sha256:q".into(),
        data: "sha256:d".into(),
    };
    let log = dir.join("written.log");
    let Ok((mut writer, _)) = LogWriter::open(&log, binding, signing.clone(), LogOptions::default()) else {
        return;
    };
    if writer.append(&request).is_err() || writer.close().is_err() {
        return;
    }
    let report = verify(&log, &signing.public(), Layout::Combined, UnsignedTail::Refuse).expect("the written log reads");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.covered, 1);
    let text = std::fs::read_to_string(&log).expect("the written log is UTF-8");
    let entry = parse(text.trim_end_matches('\n'), Layout::Combined).expect("the written line parses");
    assert_eq!(entry.client, request.client);
    assert_eq!(entry.user, request.user.clone().filter(|u| !u.is_empty()));
    assert_eq!(entry.method, request.method);
    assert_eq!(entry.path, request.path);
    assert_eq!(entry.protocol, request.protocol());
    assert_eq!(entry.referer, request.referer.clone().filter(|r| r != "-"));
    assert_eq!(entry.user_agent, request.user_agent.clone().filter(|a| a != "-"));
    assert_eq!(entry.field("rid"), Some(request.request_id.as_str()));
    assert_eq!(entry.field("out"), request.output_digest.as_deref());
}
