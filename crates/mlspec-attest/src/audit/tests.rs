use std::collections::BTreeMap;

use mlspec_spec::kinds::Outcome;
use proptest::prelude::*;

use super::*;
use crate::keys::{Algorithm, SigningKey};
use crate::log::{Finding, LogOptions, LogReport, LogWriter, Request, checkpoints_path};
use crate::package::tests::signed_package;
use crate::package::{binding, read_package};

fn request(i: u64) -> Request {
    Request {
        client: "10.1.2.3".into(),
        user: Some("alice".into()),
        time: chrono::DateTime::from_timestamp(1_796_000_000, 0),
        method: "POST".into(),
        path: format!("/v2/models/churn/infer?q={i}"),
        protocol: None,
        status: 200,
        bytes: 512,
        referer: None,
        user_agent: Some("curl/8.5".into()),
        request_id: format!("req-{i}"),
        latency_ms: 1.5,
        input_digest: None,
        output_digest: None,
        extra: BTreeMap::new(),
    }
}

/// A temporary directory holding `model/`, a package signed by the returned key, and
/// `serve.log`, five requests (`req-1` … `req-5`) bound to it in `layout`, signed.
struct Logged {
    dir: tempfile::TempDir,
    key: SigningKey,
}

impl Logged {
    fn new(layout: Layout) -> Logged {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir(&model).unwrap();
        signed_package(&model, &key, Outcome::Passed);
        let options = LogOptions {
            layout,
            ..LogOptions::default()
        };
        let (mut writer, _) = LogWriter::open(
            &dir.path().join("serve.log"),
            binding(&model).unwrap(),
            key.clone(),
            options,
        )
        .unwrap();
        for i in 1..=5 {
            writer.append(&request(i)).unwrap();
        }
        writer.close().unwrap();
        Logged { dir, key }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("serve.log")
    }

    fn model(&self) -> PathBuf {
        self.dir.path().join("model")
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write_lines(&self, lines: &[String]) {
        std::fs::write(self.log(), lines.join("\n") + "\n").unwrap();
    }

    fn line(&self, number: u64) -> LoggedLine {
        LoggedLine::read(&self.log(), number).unwrap()
    }

    fn audit(&self, number: u64, key: Option<&PublicKey>, tail: UnsignedTail) -> Audit {
        let model = self.model();
        audit(self.line(number), PackageSource::Directory(&model), key, tail).unwrap()
    }
}

#[test]
fn a_line_is_read_back_with_its_request_and_binding() {
    let logged = Logged::new(Layout::Combined);
    let line = logged.line(3);
    assert_eq!((line.number, line.layout), (3, Layout::Combined));
    assert_eq!(line.rid(), Some("req-3"));
    assert_eq!(line.model(), Some("churn@1.0.0"));
    assert_eq!(line.package_name(), Some("churn"));
    let bound = binding(&logged.model()).unwrap();
    assert_eq!(line.package_digest(), Some(bound.package.as_str()));
    assert_eq!(line.pipeline_digest(), Some(bound.pipeline.as_str()));
    assert_eq!(line.data_digest(), Some(bound.data.as_str()));
    assert_eq!(line.latency_ms(), Some("1.500"));
    assert_eq!(line.entry.path, "/v2/models/churn/infer?q=3");
    assert_eq!(line.entry.user.as_deref(), Some("alice"));
    assert_eq!(line.text, logged.lines()[2]);
}

#[test]
fn a_line_the_log_does_not_have_is_an_error_that_says_so() {
    let logged = Logged::new(Layout::Combined);
    for number in [0, 6] {
        let error = LoggedLine::read(&logged.log(), number).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidArgument);
        assert!(error.to_string().contains(&format!("has no line {number}")), "{error}");
    }
    std::fs::write(logged.log(), "not a log line\n").unwrap();
    let error = LoggedLine::read(&logged.log(), 1).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Malformed);
    assert!(error.to_string().contains("serve.log:1: is not a log line"), "{error}");
    let missing = LoggedLine::read(&logged.dir.path().join("none.log"), 1).unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Io);
}

#[test]
fn with_the_key_every_link_of_a_signed_line_holds() {
    let logged = Logged::new(Layout::Combined);
    let public = logged.key.public();
    let found = logged.audit(2, Some(&public), UnsignedTail::Refuse);
    assert_eq!(found.chain, ChainStatus::Signed { checkpoint: 5 });
    assert!(found.problems.is_empty(), "{:?}", found.problems);
    let AuditedPackage::Directory {
        name,
        version,
        matches_line,
        signatures,
        ..
    } = &found.package
    else {
        panic!("{:?}", found.package);
    };
    assert_eq!((name.as_str(), version.as_str()), ("churn", "1.0.0"));
    assert!(matches_line);
    assert_eq!(
        signatures,
        &Signatures::Verified {
            key_id: public.key_id()
        }
    );
    assert_eq!(
        found.links.training.as_ref().map(ToString::to_string).as_deref(),
        Some("Training/churn-train")
    );
    let datasets: Vec<String> = found.links.datasets.iter().map(ToString::to_string).collect();
    assert_eq!(datasets, ["Dataset/churn-train@1"]);
    assert_eq!(
        found.links.test_report.as_ref().map(ToString::to_string).as_deref(),
        Some("TestReport/churn-test")
    );
    let verdict = found.links.verdict.as_ref().unwrap();
    assert_eq!(
        (verdict.objectives.to_string().as_str(), verdict.result),
        ("Objectives/churn", Outcome::Passed)
    );
}

#[test]
fn without_a_key_nothing_is_verified_and_nothing_fails() {
    let logged = Logged::new(Layout::JsonLines);
    let found = logged.audit(4, None, UnsignedTail::Refuse);
    assert_eq!(found.line.layout, Layout::JsonLines);
    assert_eq!(found.chain, ChainStatus::Unkeyed);
    assert!(
        found
            .chain
            .reason(4)
            .unwrap()
            .contains("an unkeyed chain can be recomputed")
    );
    assert!(found.problems.is_empty(), "{:?}", found.problems);
    assert!(matches!(
        found.package,
        AuditedPackage::Directory {
            matches_line: true,
            signatures: Signatures::NotChecked,
            ..
        }
    ));
}

#[test]
fn another_package_or_another_key_is_a_problem() {
    let logged = Logged::new(Layout::Combined);
    let other = SigningKey::generate(Algorithm::Ed25519).unwrap();
    // The same package signed again by another key: other attestations, another digest.
    signed_package(&logged.model(), &other, Outcome::Passed);
    let found = logged.audit(1, Some(&logged.key.public()), UnsignedTail::Refuse);
    assert_eq!(found.chain, ChainStatus::Signed { checkpoint: 5 });
    assert_eq!(found.problems.len(), 2, "{:?}", found.problems);
    assert!(
        found.problems[0].starts_with("the line names package sha256:"),
        "{:?}",
        found.problems
    );
    assert_eq!(
        found.problems[1],
        format!(
            "the package's attestations do not verify with key {}",
            logged.key.public().key_id()
        )
    );
    let AuditedPackage::Directory { signatures, .. } = &found.package else {
        panic!("{:?}", found.package);
    };
    assert!(
        matches!(signatures, Signatures::NotVerified { problems, .. } if problems[0].contains("no key given has the id"))
    );
    // Attestations that are not envelopes do not verify; they are not an error.
    std::fs::write(logged.model().join(crate::package::ENVELOPES_FILE), "{}\n").unwrap();
    let found = logged.audit(1, Some(&logged.key.public()), UnsignedTail::Refuse);
    assert!(
        found.problems[1].starts_with("the package's attestations do not verify"),
        "{:?}",
        found.problems
    );
}

#[test]
fn a_stored_package_is_taken_as_it_is() {
    let logged = Logged::new(Layout::Combined);
    let (_, spec) = read_package(&logged.model()).unwrap();
    let reference: Ref = "ModelPackage/churn".parse().unwrap();
    let stored = PackageSource::Stored {
        reference: &reference,
        spec: &spec,
    };
    let found = audit(logged.line(5), stored, Some(&logged.key.public()), UnsignedTail::Refuse).unwrap();
    assert_eq!(
        found.package,
        AuditedPackage::Stored {
            reference,
            version: "1.0.0".parse().unwrap()
        }
    );
    assert!(found.problems.is_empty(), "{:?}", found.problems);
    assert_eq!(found.links.datasets.len(), 1);
}

#[test]
fn unsigned_and_broken_lines_are_said_and_fail_unless_accepted() {
    let logged = Logged::new(Layout::Combined);
    let public = logged.key.public();
    std::fs::remove_file(checkpoints_path(&logged.log())).unwrap();
    let refused = logged.audit(3, Some(&public), UnsignedTail::Refuse);
    let unsigned = ChainStatus::Unsigned {
        last_checkpoint: 0,
        accepted: false,
    };
    assert_eq!(refused.chain, unsigned);
    assert_eq!(
        refused.problems,
        ["line 3 comes after the last signed checkpoint (line 0): anyone who can write the file could have written it"]
    );
    let accepted = logged.audit(3, Some(&public), UnsignedTail::Allow);
    assert!(matches!(accepted.chain, ChainStatus::Unsigned { accepted: true, .. }));
    assert!(accepted.problems.is_empty(), "{:?}", accepted.problems);
    let mut lines = logged.lines();
    lines[1] = lines[1].replace(" 200 ", " 500 ");
    logged.write_lines(&lines);
    let broken = logged.audit(3, None, UnsignedTail::Allow);
    assert_eq!(broken.chain, ChainStatus::Broken);
    assert_eq!(
        broken.problems,
        ["the log's chain or checkpoints are broken at or before line 3"]
    );
    // A line before the break is intact.
    assert_eq!(logged.audit(1, None, UnsignedTail::Refuse).chain, ChainStatus::Unkeyed);
}

#[test]
fn a_finding_without_a_line_breaks_every_line() {
    let mut report = LogReport::default();
    report.covered = 2;
    assert_eq!(
        ChainStatus::of(&report, 2, true, UnsignedTail::Refuse),
        ChainStatus::Signed { checkpoint: 2 }
    );
    report.findings.push(Finding {
        line: None,
        problem: Problem::Checkpoint,
        message: "foreign".into(),
    });
    assert_eq!(
        ChainStatus::of(&report, 3, true, UnsignedTail::Refuse),
        ChainStatus::Broken
    );
    assert!(ChainStatus::Broken.fails());
    assert!(!ChainStatus::Unkeyed.fails());
}

#[test]
fn a_pasted_line_is_found_by_its_request_id_when_it_is_unchanged() {
    for layout in [Layout::Combined, Layout::JsonLines] {
        let logged = Logged::new(layout);
        let third = logged.lines()[2].clone();
        let pasted = format!("  {third}\r\n");
        let found = find_pasted(&logged.log(), pasted.as_bytes()).unwrap();
        assert_eq!(found, PastedLine::Found(logged.line(3)));
        assert_eq!(found.finding(&logged.log()), None);
    }
}

#[test]
fn a_pasted_line_that_differs_from_the_logged_one_names_the_fields() {
    let logged = Logged::new(Layout::Combined);
    let edited = logged.lines()[3]
        .replace(" 200 ", " 500 ")
        .replace("curl/8.5", "curl/9");
    let found = find_pasted(&logged.log(), edited.as_bytes()).unwrap();
    let PastedLine::Differs { logged: line, fields } = &found else {
        panic!("{found:?}");
    };
    assert_eq!(line.number, 4);
    assert_eq!(fields, &["status", "user_agent"]);
    assert_eq!(
        found.finding(Path::new("serve.log")).unwrap(),
        "the pasted line is not as logged: serve.log:4 has its request id, but its status, user_agent differ"
    );
}

#[test]
fn a_pasted_line_whose_request_id_is_not_logged_is_a_finding() {
    let logged = Logged::new(Layout::Combined);
    let forged = logged.lines()[0].replace("rid=req-1", "rid=forged");
    let found = find_pasted(&logged.log(), forged.as_bytes()).unwrap();
    assert_eq!(found, PastedLine::NotInLog { rid: "forged".into() });
    assert_eq!(
        found.finding(Path::new("serve.log")).unwrap(),
        "the pasted line is not in serve.log: no line has its request id `forged`"
    );
}

#[test]
fn pasted_text_that_is_not_one_log_line_is_a_finding() {
    let logged = Logged::new(Layout::Combined);
    let lines = logged.lines();
    let huge = vec![b'a'; MAX_LINE_BYTES + 1];
    let two = format!("{}\n{}", lines[0], lines[1]).into_bytes();
    let cases: [(&[u8], &str); 6] = [
        (b"", "is empty"),
        (b" \n\t ", "is empty"),
        (&huge, "longer than a log line"),
        (b"\xff\xfe\x00binary", "is not UTF-8 text"),
        (b"hello world", "is not a log line"),
        (&two, "holds more than one line"),
    ];
    for (pasted, said) in cases {
        let found = find_pasted(&logged.log(), pasted).unwrap();
        let PastedLine::NotALine { reason } = &found else {
            panic!("{found:?}");
        };
        assert!(reason.contains(said), "{reason}");
        assert!(found.finding(&logged.log()).unwrap().starts_with("the pasted text "));
    }
    let error = find_pasted(&logged.dir.path().join("none.log"), lines[0].as_bytes()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Io);
}

#[test]
fn no_pasted_text_makes_the_search_panic() {
    let logged = Logged::new(Layout::Combined);
    let line = logged.lines()[1].clone().into_bytes();
    let log = logged.log();
    // Arbitrary bytes, and the logged line with bytes replaced and inserted.
    let arbitrary = proptest::collection::vec(any::<u8>(), 0..600).boxed();
    let length = line.len();
    let mutated = (
        proptest::collection::vec((0..length, any::<u8>()), 0..8),
        0..length,
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(move |(replaced, at, inserted)| {
            let mut text = line.clone();
            for (i, byte) in replaced {
                text[i] = byte;
            }
            text.splice(at..at, inserted);
            text
        })
        .boxed();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
    runner
        .run(&prop_oneof![arbitrary, mutated], |pasted| {
            let found = find_pasted(&log, &pasted).unwrap();
            if let PastedLine::Found(found) = &found {
                prop_assert_eq!(found.text.as_bytes(), pasted.trim_ascii());
            }
            Ok(())
        })
        .unwrap();
}
