//! `/ui/audit`: from one logged request to what made its answer. Choose a log of the server's
//! audit logs and a line number (`?log=NAME&line=N`), or paste a line from wherever you saw it
//! (`?log=NAME&paste=LINE`, at most [`MAX_PASTE`] bytes); the page shows the chain — the
//! request, the package that answered it, the training, the data and their digests, the test
//! report and the objectives' verdict — each link marked verified or not, and why.
//!
//! What makes a link verified:
//! - **the request**: a signed checkpoint of its log, by a trusted key, covers its line;
//! - **the package**: its directory (`--packages`) holds the attestations whose digest the line
//!   names, signed by a trusted key (a package taken from the store is not verified);
//! - **the training** and **the data**: the signed line's `pipeline=` and `data=` digests are
//!   the ones the verified package binds its lines to — the training reference's pinned
//!   digest, and the digest of the package's dataset references;
//! - **the test report** and **the objectives**: the verified package's signed verdict names
//!   that test report, and says the objectives were met.
//!
//! A pasted line that is not in the log, or differs from the logged line with its request id,
//! is a finding on the page (the differing fields named), not an error. The paste is only
//! parsed, never used to name a file.

use std::path::{Path, PathBuf};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use maud::{Markup, html};
use mlspec_attest::AttestError;
use mlspec_attest::audit::{
    Audit, AuditedPackage, ChainStatus, LoggedLine, PackageSource, PastedLine, Signatures, audit, find_pasted,
};
use mlspec_attest::keys::PublicKey;
use mlspec_attest::log::{Binding, UnsignedTail, verify_chain};
use mlspec_attest::package::{binding, signed_statements};
use mlspec_attest::predicate;
use mlspec_spec::kinds::{ModelPackageSpec, Outcome};
use mlspec_spec::{Ref, Spec};
use mlspec_store::Selector;
use serde::Deserialize;

use super::mark::{Linked, Mark};
use super::{NO_LOGS, Trust, log_file, log_names, package_dir, relative};
use crate::format::{object_href, query};
use crate::page::{Section, shell};
use crate::{Ui, UiError};

/// The longest pasted line the page takes.
pub const MAX_PASTE: usize = 16 << 10;

#[derive(Deserialize)]
pub(crate) struct AuditParams {
    log: Option<String>,
    line: Option<String>,
    paste: Option<String>,
}

/// Which line to audit.
enum Asked {
    /// The line numbered so, from 1.
    Number(u64),
    /// The line with the pasted line's request id.
    Pasted(String),
}

impl Asked {
    /// What the query asks for: a pasted line, else a line number; neither is `None`.
    fn of(params: &AuditParams) -> Result<Option<Asked>, UiError> {
        if let Some(paste) = params.paste.as_deref().filter(|p| !p.trim().is_empty()) {
            if paste.len() > MAX_PASTE {
                return Err(UiError::bad_request(format!(
                    "the pasted text is {} bytes; the page takes a line of at most {} KiB",
                    paste.len(),
                    MAX_PASTE >> 10
                ))
                .with_hint("name the line by its number instead, or use `mlspec log audit FILE:LINE`"));
            }
            return Ok(Some(Asked::Pasted(paste.to_owned())));
        }
        match params.line.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            None => Ok(None),
            Some(text) => match text.parse::<u64>() {
                Ok(number) if number > 0 => Ok(Some(Asked::Number(number))),
                _ => Err(UiError::bad_request(format!(
                    "`{text}` is not a line number: lines are counted from 1"
                ))),
            },
        }
    }
}

/// `GET /ui/audit`.
pub(crate) async fn page(
    State(ui): State<Ui>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Markup, UiError> {
    let params = query(params)?;
    let asked = Asked::of(&params)?;
    let logs = ui
        .checks
        .run(|trust| trust.audit_logs.as_deref().map(log_names))
        .await?;
    let result = match (&params.log, asked) {
        (Some(log), Some(asked)) if !log.is_empty() => chain(&ui, log, asked).await?,
        (_, Some(_)) => return Err(UiError::bad_request("choose the log the line is from")),
        (log, None) => {
            if let Some(log) = log.clone().filter(|l| !l.is_empty()) {
                ui.checks
                    .run(move |trust| log_file(trust.audit_logs.as_deref(), &log))
                    .await??;
            }
            html! {}
        }
    };
    let body = html! {
        h1 { "Audit a request" }
        (form(logs.as_ref(), &params))
        (result)
    };
    Ok(shell("Audit", Section::Audit, body))
}

/// The form: the log (from the server's audit logs), and a line number or a pasted line.
fn form(logs: Option<&(Vec<String>, bool)>, params: &AuditParams) -> Markup {
    let Some((names, more)) = logs else {
        return html! { p.notice { "This server opens no logs: " (NO_LOGS) "." } };
    };
    let chosen = params.log.as_deref().unwrap_or_default();
    html! {
        form.audit method="get" action="/ui/audit" {
            label {
                "Log "
                select name="log" required {
                    @for name in names { option value=(name) selected[name.as_str() == chosen] { (name) } }
                }
            }
            label { "Line number " input type="number" name="line" min="1" value=(params.line.as_deref().unwrap_or_default()); }
            label.wide {
                "or paste a line of the log (at most " (MAX_PASTE >> 10) " KiB) "
                textarea name="paste" rows="3" maxlength=(MAX_PASTE) { (params.paste.as_deref().unwrap_or_default()) }
            }
            button type="submit" { "Audit" }
        }
        @if names.is_empty() { p.empty { "The audit logs directory holds no log." } }
        @if *more { p.hint { "Only the first " (super::MAX_LOGS) " logs are listed." } }
    }
}

/// What the line's log, package and keys prove (the blocking part of the audit).
struct Proof {
    /// The audit, when the line's package was found.
    audit: Option<Audit>,
    /// What the chain says of the line.
    chain: ChainStatus,
    /// What the package directory binds its lines to, when the package came from one.
    binding: Option<Binding>,
    /// The verdict the verified package's trusted key signed (or why it cannot be read).
    signed_verdict: Option<Result<predicate::Verdict, String>>,
}

/// The chain of the asked line of the log `log`, as a page section.
async fn chain(ui: &Ui, log: &str, asked: Asked) -> Result<Markup, UiError> {
    let root = ui.checks.trust().audit_logs.clone().unwrap_or_default();
    let (log, errors) = (log.to_owned(), root.clone());
    let (finding, line, dir) = ui
        .checks
        .run(move |trust| {
            let path = log_file(trust.audit_logs.as_deref(), &log)?;
            find_line(trust, &path, asked).map_err(|e| attest_error(&e, &errors))
        })
        .await??;
    let finding = finding.map(|f| relative_mark(f, &root));
    let Some(line) = line else {
        return Ok(html! { (finding_view(finding.as_ref())) });
    };
    let stored = match &dir {
        Some(_) => None,
        None => stored_package(ui, &line).await,
    };
    let source = match (dir, stored) {
        (Some(dir), _) => Source::Directory(dir),
        (None, Some((reference, spec))) => Source::Stored(reference, Box::new(spec)),
        (None, None) => Source::None,
    };
    let proof = ui
        .checks
        .run(move |trust| prove(trust, line, source))
        .await?
        .map_err(|e| attest_error(&e, &root))?;
    Ok(html! {
        (finding_view(finding.as_ref()))
        (proof_view(ui, &proof, &root).await)
    })
}

/// The pasted-line finding with the server's directory left out.
fn relative_mark(mark: Mark, root: &Path) -> Mark {
    match mark {
        Mark::Verified(how) => Mark::Verified(relative(&how, root)),
        Mark::NotVerified(why) => Mark::NotVerified(relative(&why, root)),
    }
}

fn finding_view(finding: Option<&Mark>) -> Markup {
    html! { @if let Some(mark) = finding { p.finding role="status" { "Pasted line: " (mark.view()) } } }
}

/// An error reading the log or the package, as a page (the server's directories left out).
fn attest_error(error: &AttestError, root: &Path) -> UiError {
    let message = relative(&format!("{}: {}", error.subject, error.message), root);
    let mut ui = match error.kind {
        mlspec_attest::ErrorKind::Io => UiError::not_found(message),
        _ => UiError::bad_request(message),
    };
    ui.hint = error.hint.as_ref().map(|hint| relative(hint, root));
    ui
}

/// The line asked for, and what finding it said (for a paste); the package directory of its
/// model when the packages directory has one. An error when the log cannot be read.
type Found = (Option<Mark>, Option<LoggedLine>, Option<PathBuf>);

fn find_line(trust: &Trust, log: &Path, asked: Asked) -> Result<Found, AttestError> {
    let (finding, line) = match asked {
        Asked::Number(number) => (None, Some(LoggedLine::read(log, number)?)),
        Asked::Pasted(text) => {
            let pasted = find_pasted(log, text.as_bytes())?;
            let finding = match &pasted.finding(log) {
                Some(why) => Mark::NotVerified(why.clone()),
                None => Mark::Verified("the log holds it, unchanged".into()),
            };
            let line = match pasted {
                PastedLine::Found(line) | PastedLine::Differs { logged: line, .. } => Some(line),
                PastedLine::NotInLog { .. } | PastedLine::NotALine { .. } => None,
            };
            (Some(finding), line)
        }
    };
    let dir = line.as_ref().and_then(|line| {
        let root = trust.packages.as_deref()?;
        package_dir(root, line.package_name()?)
    });
    Ok((finding, line, dir))
}

/// The ModelPackage the store holds under the line's model name.
async fn stored_package(ui: &Ui, line: &LoggedLine) -> Option<(Ref, ModelPackageSpec)> {
    let reference: Ref = format!("ModelPackage/{}", line.package_name()?).parse().ok()?;
    let stored = ui.store.get(&Selector::from(&reference)).await.ok()?;
    match stored.document.spec {
        Spec::ModelPackage(spec) => Some((reference, spec)),
        _ => None,
    }
}

/// Where the line's package is.
enum Source {
    Directory(PathBuf),
    Stored(Ref, Box<ModelPackageSpec>),
    None,
}

/// Audits `line` with each trusted key until one proves every link (else with the first), and
/// reads what the verified package binds and signs.
fn prove(trust: &Trust, line: LoggedLine, source: Source) -> Result<Proof, AttestError> {
    let package = match &source {
        Source::Directory(dir) => PackageSource::Directory(dir),
        Source::Stored(reference, spec) => PackageSource::Stored { reference, spec },
        Source::None => {
            let chain = chain_only(&line, &trust.keys)?;
            return Ok(Proof {
                audit: None,
                chain,
                binding: None,
                signed_verdict: None,
            });
        }
    };
    let audit = audit_with_keys(line, &package, &trust.keys)?;
    let (binding, signed_verdict) = match &source {
        Source::Directory(dir) => (Some(binding(dir)?), signed_verdict(dir, &audit.package, &trust.keys)),
        _ => (None, None),
    };
    Ok(Proof {
        chain: audit.chain,
        audit: Some(audit),
        binding,
        signed_verdict,
    })
}

/// The audit with the first key under which every link holds, else the first key's.
fn audit_with_keys(line: LoggedLine, package: &PackageSource<'_>, keys: &[PublicKey]) -> Result<Audit, AttestError> {
    let mut first = None;
    for key in keys {
        let audited = audit(line.clone(), package.clone(), Some(key), UnsignedTail::Refuse)?;
        if audited.problems.is_empty() {
            return Ok(audited);
        }
        first.get_or_insert(audited);
    }
    match first {
        Some(audited) => Ok(audited),
        None => audit(line, package.clone(), None, UnsignedTail::Refuse),
    }
}

/// What the chain says of `line` when there is no package to audit: signed by the first key
/// whose checkpoints cover it, else the first key's status.
fn chain_only(line: &LoggedLine, keys: &[PublicKey]) -> Result<ChainStatus, AttestError> {
    let mut first = None;
    for key in keys.iter().map(Some).chain(keys.is_empty().then_some(None)) {
        let report = verify_chain(&line.log, key, line.layout, UnsignedTail::Refuse)?;
        let status = ChainStatus::of(&report, line.number, key.is_some(), UnsignedTail::Refuse);
        if matches!(status, ChainStatus::Signed { .. }) {
            return Ok(status);
        }
        first.get_or_insert(status);
    }
    Ok(first.unwrap_or(ChainStatus::Unkeyed))
}

/// The verdict signed by the key that verified the package's attestations.
fn signed_verdict(
    dir: &Path,
    package: &AuditedPackage,
    keys: &[PublicKey],
) -> Option<Result<predicate::Verdict, String>> {
    let AuditedPackage::Directory {
        signatures: Signatures::Verified { key_id },
        ..
    } = package
    else {
        return None;
    };
    let key = keys.iter().find(|k| &k.key_id() == key_id)?;
    let statements = match signed_statements(dir, key) {
        Ok(verified) => verified.statements,
        Err(e) => return Some(Err(e.to_string())),
    };
    let verdict = statements
        .iter()
        .find(|s| s.predicate_type == predicate::VERDICT_V1)
        .map(|s| s.predicate_as::<predicate::Verdict>().map_err(|e| e.to_string()));
    Some(verdict.unwrap_or_else(|| Err("the package was signed without a verdict".into())))
}

/// The chain, link by link.
async fn proof_view(ui: &Ui, proof: &Proof, root: &Path) -> Markup {
    let Some(audit) = &proof.audit else {
        return html! {
            (request_view(None, proof.chain, root))
            p.notice {
                span.fail { "not verified" } " — the line's model names a package that is neither in the packages directory (`--packages`) nor in the store: the chain from it cannot be followed."
            }
        };
    };
    let marks = Marks::of(proof, audit);
    let store = ui.store.as_ref();
    let training = match &audit.links.training {
        Some(r) => Some(Linked::find(store, r).await),
        None => None,
    };
    let mut datasets = Vec::new();
    for reference in &audit.links.datasets {
        datasets.push(Linked::find(store, reference).await);
    }
    let test = match &audit.links.test_report {
        Some(r) => Some(Linked::find(store, r).await),
        None => None,
    };
    let package = package_link(ui, &audit.package).await;
    html! {
        (request_view(Some(&audit.line), proof.chain, root))
        h2 { "What made the answer" }
        table.chain {
            thead { tr { th scope="col" { "Link" } th scope="col" { "What" } th scope="col" { "Mark" } } }
            tbody {
                tr { th scope="row" { "Package" } td { (package) } td { (marks.package.view()) } }
                tr { th scope="row" { "Training" } td {
                    @match &training { Some(t) => (t.view()), None => span.empty { "not named by the package" } }
                    br; "pipeline " code.digest { (audit.line.pipeline_digest().unwrap_or("?")) }
                } td { (marks.training.view()) } }
                tr { th scope="row" { "Data" } td {
                    ul.datasets { @for d in &datasets { li { (d.view()) } } }
                    "data " code.digest { (audit.line.data_digest().unwrap_or("?")) }
                } td { (marks.data.view()) } }
                tr { th scope="row" { "Test report" } td {
                    @match &test { Some(t) => (t.view()), None => span.empty { "not named by the package" } }
                } td { (marks.test.view()) } }
                tr { th scope="row" { "Objectives" } td {
                    @match &audit.links.verdict {
                        Some(v) => { (v.objectives.to_string()) ": " (if v.result == Outcome::Passed { "met" } else { "NOT met" }) },
                        None => span.empty { "no verdict in the package" },
                    }
                } td { (marks.objectives.view()) } }
            }
        }
        @if !audit.problems.is_empty() {
            h2 { "What does not hold" }
            ul.problems { @for problem in &audit.problems { li { (relative(problem, root)) } } }
        }
    }
}

/// The package: its name and version, a link to its page when the store holds it.
async fn package_link(ui: &Ui, package: &AuditedPackage) -> Markup {
    let (name, version, source) = match package {
        AuditedPackage::Directory { name, version, .. } => (name.clone(), version, "from the packages directory"),
        AuditedPackage::Stored { reference, version } => (
            reference.to_string().trim_start_matches("ModelPackage/").to_owned(),
            version,
            "from the store",
        ),
    };
    let reference: Option<Ref> = format!("ModelPackage/{name}").parse().ok();
    let id = match &reference {
        Some(r) => Linked::find(ui.store.as_ref(), r).await.id,
        None => None,
    };
    html! {
        @match id {
            Some(id) => a href=(object_href(&id)) { (name) "@" (version.to_string()) },
            None => code { (name) "@" (version.to_string()) },
        }
        " " span.meta { "(" (source) ")" }
    }
}

/// The request the line records, and what its log's chain says of it.
fn request_view(line: Option<&LoggedLine>, chain: ChainStatus, root: &Path) -> Markup {
    html! {
        h2 { "The request" }
        @if let Some(line) = line {
            @let entry = &line.entry;
            @let field = |k: &str| entry.field(k).unwrap_or("?").to_owned();
            table.request {
                tbody {
                    tr { th scope="row" { "Line" } td { (relative(&line.log.display().to_string(), root)) ":" (line.number) } }
                    tr { th scope="row" { "Request id" } td { code { (field("rid")) } } }
                    tr { th scope="row" { "Time" } td { (entry.time) } }
                    tr { th scope="row" { "Client" } td { (entry.client) @if let Some(user) = &entry.user { " (user " (user) ")" } } }
                    tr { th scope="row" { "Request" } td { code { (entry.method) " " (entry.path) " " (entry.protocol) } } }
                    tr { th scope="row" { "Status" } td { (entry.status) " · " (entry.bytes) " bytes · " (field("latency_ms")) " ms" } }
                    @if let Some(agent) = &entry.user_agent { tr { th scope="row" { "User agent" } td { (agent) } } }
                    tr { th scope="row" { "Model" } td { code { (field("model")) } } }
                    tr { th scope="row" { "Package digest" } td { code.digest { (field("package")) } } }
                }
            }
        }
        p { "Chain: " (chain_mark(chain, line.map_or(0, |l| l.number)).view()) }
    }
}

/// What the chain says of line `number`.
fn chain_mark(chain: ChainStatus, number: u64) -> Mark {
    match chain {
        ChainStatus::Signed { checkpoint } => Mark::Verified(format!(
            "signed: the log is intact from line 1, and a signed checkpoint covers it (up to line {checkpoint})"
        )),
        ChainStatus::Unkeyed => Mark::NotVerified(format!(
            "unkeyed: {}; start the server with `--pubkey KEY`",
            chain.reason(number).unwrap_or_default()
        )),
        ChainStatus::Unsigned { .. } => {
            Mark::NotVerified(format!("not signed: {}", chain.reason(number).unwrap_or_default()))
        }
        ChainStatus::Broken => Mark::NotVerified(format!(
            "broken: {} (`mlspec log verify` names where)",
            chain.reason(number).unwrap_or_default()
        )),
    }
}

/// The mark of each link after the request.
struct Marks {
    package: Mark,
    training: Mark,
    data: Mark,
    test: Mark,
    objectives: Mark,
}

impl Marks {
    fn of(proof: &Proof, audit: &Audit) -> Marks {
        let package = package_mark(&audit.package);
        // Every later link rests on a signed line and a verified package.
        let unproven = match (&package, proof.chain) {
            (Mark::NotVerified(_), _) => Some("the package is not verified".to_owned()),
            (_, ChainStatus::Signed { .. }) => None,
            _ => Some("the log line is not verified".to_owned()),
        };
        let bound = |what: &str, logged: Option<&str>, packaged: Option<&str>| match (&unproven, logged == packaged) {
            (Some(why), _) => Mark::NotVerified(why.clone()),
            (None, true) => Mark::Verified(format!("the signed line's {what} digest is the package's")),
            (None, false) => Mark::NotVerified(format!("the line's {what} digest is not the package's")),
        };
        let binding = proof.binding.as_ref();
        let training = bound(
            "pipeline",
            audit.line.pipeline_digest(),
            binding.map(|b| b.pipeline.as_str()),
        );
        let data = bound("data", audit.line.data_digest(), binding.map(|b| b.data.as_str()));
        let (test, objectives) = match (&unproven, &proof.signed_verdict) {
            (Some(why), _) => (Mark::NotVerified(why.clone()), Mark::NotVerified(why.clone())),
            (None, Some(Ok(verdict))) => verdict_marks(verdict, audit),
            (None, Some(Err(why))) => (Mark::NotVerified(why.clone()), Mark::NotVerified(why.clone())),
            (None, None) => {
                let why = "no verdict signed by a trusted key".to_owned();
                (Mark::NotVerified(why.clone()), Mark::NotVerified(why))
            }
        };
        Marks {
            package,
            training,
            data,
            test,
            objectives,
        }
    }
}

/// Whether the package is the line's and signed by a trusted key.
fn package_mark(package: &AuditedPackage) -> Mark {
    match package {
        AuditedPackage::Stored { .. } => Mark::NotVerified(
            "taken from the store, its attestations not checked: start the server with `--packages DIR` holding it"
                .into(),
        ),
        AuditedPackage::Directory {
            matches_line: false, ..
        } => Mark::NotVerified("its attestations are not the ones the line names".into()),
        AuditedPackage::Directory { signatures, .. } => match signatures {
            Signatures::Verified { key_id } => Mark::Verified(format!(
                "the line names its attestations, signed by key {key_id} (its files are re-hashed on its own page)"
            )),
            Signatures::NotVerified { key_id, .. } => {
                Mark::NotVerified(format!("its attestations do not verify with key {key_id}"))
            }
            Signatures::NotChecked => {
                Mark::NotVerified("its signatures were not checked: start the server with `--pubkey KEY`".into())
            }
        },
    }
}

/// The test report's and the objectives' marks from the signed verdict.
fn verdict_marks(verdict: &predicate::Verdict, audit: &Audit) -> (Mark, Mark) {
    let named = audit.links.test_report.as_ref().map(ToString::to_string);
    let test = match (&verdict.test_report, &named) {
        (Some(signed), Some(named)) if signed == named => {
            Mark::Verified("the signed verdict names this test report".into())
        }
        (signed, _) => Mark::NotVerified(format!(
            "the signed verdict names {}",
            signed.as_deref().unwrap_or("no test report")
        )),
    };
    let objectives = match verdict.result {
        Outcome::Passed => Mark::Verified(format!(
            "the signed verdict against {} says they were met",
            verdict.objectives
        )),
        Outcome::Failed => Mark::NotVerified(format!("the signed verdict against {} failed", verdict.objectives)),
    };
    (test, objectives)
}
