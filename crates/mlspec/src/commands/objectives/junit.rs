//! The verdict as JUnit XML, the format CI systems render as test results: one `testsuite`
//! (the objectives against the results), one `testcase` per criterion. A `block` criterion that
//! is not met is a `failure` (an `error` when it could not be computed); a `warn` criterion that
//! is not met passes, with the reason in `system-err`, as it does not stop deployment.

use mlspec_spec::kinds::{CriterionResult, CriterionStatus, Gate};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{Report, actual};

/// How one criterion shows in JUnit.
enum Case {
    Passed,
    Warned,
    Failure,
    Error,
}

fn case(c: &CriterionResult) -> Case {
    match (c.met, c.severity, c.status) {
        (true, ..) => Case::Passed,
        (false, Gate::Warn, _) => Case::Warned,
        (false, Gate::Block, Some(CriterionStatus::Error)) => Case::Error,
        (false, Gate::Block, _) => Case::Failure,
    }
}

/// Renders the report.
pub(super) fn render(report: &Report) -> anyhow::Result<String> {
    let count = |wanted: fn(&Case) -> bool| report.criteria.iter().filter(|c| wanted(&case(c))).count().to_string();
    let failures = count(|c| matches!(c, Case::Failure));
    let errors = count(|c| matches!(c, Case::Error));
    let tests = report.criteria.len().to_string();
    let suite = format!("{} against {}", report.subject, report.objectives);
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", "mlspec objectives check"),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
        ])
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attributes([
                    ("name", suite.as_str()),
                    ("tests", tests.as_str()),
                    ("failures", failures.as_str()),
                    ("errors", errors.as_str()),
                    ("skipped", "0"),
                    ("time", "0"),
                ])
                .write_inner_content(|w| {
                    write_properties(w, report)?;
                    for criterion in &report.criteria {
                        write_case(w, report, criterion)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    let mut xml = String::from_utf8(writer.into_inner())?;
    xml.push('\n');
    Ok(xml)
}

fn write_properties(w: &mut Writer<Vec<u8>>, report: &Report) -> std::io::Result<()> {
    let mut properties = vec![
        ("objectives", report.objectives.clone()),
        ("subject", report.subject.clone()),
    ];
    if let Some(baseline) = &report.baseline {
        properties.push(("baseline", baseline.clone()));
    }
    properties.push(("result", format!("{:?}", report.result).to_lowercase()));
    w.create_element("properties").write_inner_content(|w| {
        for (name, value) in &properties {
            w.create_element("property")
                .with_attributes([("name", *name), ("value", value.as_str())])
                .write_empty()?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_case(w: &mut Writer<Vec<u8>>, report: &Report, c: &CriterionResult) -> std::io::Result<()> {
    let reason = c.reason.as_ref().map(|r| r.as_str().to_owned()).unwrap_or_default();
    let expression = c.expression.as_ref().map(|e| e.as_str()).unwrap_or_default();
    let details = format!(
        "expression: {expression}\nactual: {}\ngate: {}",
        actual(c),
        super::gate(c.severity)
    );
    w.create_element("testcase")
        .with_attributes([
            ("name", c.name.as_str()),
            ("classname", report.objectives.as_str()),
            ("time", "0"),
        ])
        .write_inner_content(|w| {
            match case(c) {
                Case::Failure => {
                    w.create_element("failure")
                        .with_attributes([("message", reason.as_str()), ("type", status_name(c))])
                        .write_text_content(BytesText::new(&details))?;
                }
                Case::Error => {
                    w.create_element("error")
                        .with_attributes([("message", reason.as_str()), ("type", "error")])
                        .write_text_content(BytesText::new(&details))?;
                }
                Case::Warned => {
                    w.create_element("system-err")
                        .write_text_content(BytesText::new(&format!("warning (not blocking): {reason}\n{details}")))?;
                }
                Case::Passed => {
                    w.create_element("system-out")
                        .write_text_content(BytesText::new(&details))?;
                }
            }
            Ok(())
        })?;
    Ok(())
}

fn status_name(c: &CriterionResult) -> &'static str {
    match c.status {
        Some(CriterionStatus::Unknown) => "unknown",
        Some(CriterionStatus::Error) => "error",
        _ => "notMet",
    }
}
