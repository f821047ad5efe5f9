//! A module's command template: arguments in which `{inputs.NAME}`, `{outputs.NAME}` and
//! `{params.NAME}` stand for a step's input paths, output paths and parameter values, and
//! `{artifacts.NAME}` for the stored Artifact an input is (its id, for commands that take a
//! reference, such as `mlspec eval --model`).
//!
//! Only those four forms are placeholders; any other brace is the command's own text (a
//! Python dict in `python -c`, a shell `${VAR}`), kept as written.

/// The three things a placeholder can stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    /// `{inputs.NAME}`: the path of an input.
    Input,
    /// `{outputs.NAME}`: the path an output is written to.
    Output,
    /// `{params.NAME}`: a parameter's value.
    Param,
    /// `{artifacts.NAME}`: the id of the stored Artifact an input is.
    Artifact,
}

impl Slot {
    /// How the placeholder's prefix is written.
    pub fn prefix(self) -> &'static str {
        match self {
            Slot::Input => "inputs",
            Slot::Output => "outputs",
            Slot::Param => "params",
            Slot::Artifact => "artifacts",
        }
    }
}

/// One placeholder found in an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placeholder<'a> {
    /// What it stands for.
    pub slot: Slot,
    /// The port or parameter name.
    pub name: &'a str,
    /// Byte range in the argument, braces included.
    pub range: (usize, usize),
}

/// The placeholders in `argument`, in order.
pub fn placeholders(argument: &str) -> Vec<Placeholder<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = argument[from..].find('{').map(|i| from + i) {
        let Some(close) = argument[open..].find('}').map(|i| open + i) else {
            break;
        };
        match parse(&argument[open + 1..close]) {
            Some((slot, name)) => {
                found.push(Placeholder {
                    slot,
                    name,
                    range: (open, close + 1),
                });
                from = close + 1;
            }
            None => from = open + 1,
        }
    }
    found
}

fn parse(inner: &str) -> Option<(Slot, &str)> {
    let (prefix, name) = inner.split_once('.')?;
    let slot = [Slot::Input, Slot::Output, Slot::Param, Slot::Artifact]
        .into_iter()
        .find(|s| s.prefix() == prefix)?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    valid.then_some((slot, name))
}

/// What an argument becomes once filled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filled {
    /// The argument with every placeholder replaced.
    Text(String),
    /// The argument was exactly one placeholder whose value is absent (an optional input left
    /// unbound): it is left out of the command.
    Dropped,
}

/// Fills every placeholder of `argument` with `value(slot, name)`. `None` from `value` means
/// "absent": an argument that is only that placeholder is dropped, and inside a longer
/// argument it becomes empty text.
pub fn fill(argument: &str, mut value: impl FnMut(Slot, &str) -> Option<String>) -> Filled {
    let found = placeholders(argument);
    if let [only] = found.as_slice()
        && only.range == (0, argument.len())
    {
        return value(only.slot, only.name).map_or(Filled::Dropped, Filled::Text);
    }
    let mut out = String::with_capacity(argument.len());
    let mut at = 0;
    for placeholder in found {
        out.push_str(&argument[at..placeholder.range.0]);
        out.push_str(&value(placeholder.slot, placeholder.name).unwrap_or_default());
        at = placeholder.range.1;
    }
    out.push_str(&argument[at..]);
    Filled::Text(out)
}

/// Fills a whole command (see [`fill`]).
pub fn fill_command(command: &[String], mut value: impl FnMut(Slot, &str) -> Option<String>) -> Vec<String> {
    command
        .iter()
        .filter_map(|argument| match fill(argument, &mut value) {
            Filled::Text(text) => Some(text),
            Filled::Dropped => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(slot: Slot, name: &str) -> Option<String> {
        match (slot, name) {
            (Slot::Input, "train") => Some("/data/train.csv".into()),
            (Slot::Output, "model") => Some("/out/model".into()),
            (Slot::Param, "C") => Some("100".into()),
            _ => None,
        }
    }

    #[test]
    fn placeholders_are_the_four_forms_and_nothing_else() {
        let found = placeholders("--x={inputs.train},{params.C} {'a': 1} ${HOME} {other.x} {inputs.} {artifacts.m}");
        let names: Vec<_> = found.iter().map(|p| (p.slot, p.name)).collect();
        assert_eq!(
            names,
            [(Slot::Input, "train"), (Slot::Param, "C"), (Slot::Artifact, "m")]
        );
        assert_eq!(found[0].range, (4, 18));
    }

    #[test]
    fn a_command_is_filled_and_an_absent_lone_placeholder_is_dropped() {
        let command: Vec<String> = [
            "train.py",
            "{inputs.train}",
            "--out={outputs.model}",
            "{inputs.validation}",
            "--v={inputs.validation}",
            "-c",
            "print({'C': {params.C}})",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            fill_command(&command, values),
            [
                "train.py",
                "/data/train.csv",
                "--out=/out/model",
                "--v=",
                "-c",
                "print({'C': 100})"
            ]
        );
    }

    proptest::proptest! {
        /// Any argument, braces and all: finding placeholders never fails, each found range is
        /// the placeholder's text, and filling with each placeholder's own text gives the
        /// argument back.
        #[test]
        fn any_argument_is_parsed_and_filled_back(argument in r"(\{|\}|inputs|outputs|params|artifacts|\.|[a-z_-]|\PC){0,40}") {
            for placeholder in placeholders(&argument) {
                let text = &argument[placeholder.range.0..placeholder.range.1];
                proptest::prop_assert_eq!(text, format!("{{{}.{}}}", placeholder.slot.prefix(), placeholder.name));
            }
            let filled = fill(&argument, |slot, name| Some(format!("{{{}.{name}}}", slot.prefix())));
            proptest::prop_assert_eq!(filled, Filled::Text(argument.clone()));
        }
    }

    #[test]
    fn an_unclosed_brace_is_text() {
        assert_eq!(fill("{inputs.train", values), Filled::Text("{inputs.train".into()));
    }
}
