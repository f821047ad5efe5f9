//! Column names as documents can carry them: every column gets a unique, non-empty name that is
//! a valid feature key. A header field that is empty becomes `column_N` (its 1-based position),
//! a name used before gets `_2`, `_3`, … (the first keeps its name), and characters a feature
//! key cannot hold become `_`. Each change is a warning naming the place and the new name;
//! refusing instead would stop every spreadsheet export with a blank header cell, and dropping
//! the column (as before) lost data silently.

use std::collections::HashSet;

use mlspec_spec::newtypes::Key;

/// The longest feature key.
const MAX_KEY: usize = 250;

/// The names to use for `raw` (the file's), and one message per renamed column.
pub(super) fn unique(raw: &[String], place: &str) -> (Vec<String>, Vec<String>) {
    let taken: HashSet<&str> = raw.iter().map(String::as_str).collect();
    let mut used: HashSet<String> = HashSet::new();
    let mut names = Vec::with_capacity(raw.len());
    let mut warnings = Vec::new();
    for (i, name) in raw.iter().enumerate() {
        let base = if name.is_empty() {
            format!("column_{}", i + 1)
        } else {
            as_key(name)
        };
        let mut chosen = base.clone();
        let mut n = 2;
        // A name the file has is never taken by another column's new name.
        while used.contains(&chosen) || (chosen != *name && taken.contains(chosen.as_str())) {
            chosen = format!("{base}_{n}");
            n += 1;
        }
        if chosen != *name {
            let why = if name.is_empty() {
                "has no name".to_owned()
            } else if used.contains(&base) {
                format!("repeats the name `{name}`")
            } else {
                format!("is named `{name}`, which is not a valid feature name")
            };
            warnings.push(format!("{place}: column {} {why}; it is read as `{chosen}`", i + 1));
        }
        used.insert(chosen.clone());
        names.push(chosen);
    }
    (names, warnings)
}

/// `name` with the characters a feature key cannot hold replaced by `_`, cut to its length.
fn as_key(name: &str) -> String {
    if Key::new(name).is_ok() {
        return name.to_owned();
    }
    let replaced: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_./: -".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_KEY - 8)
        .collect();
    if replaced.trim().is_empty() {
        "column".to_owned()
    } else {
        replaced
    }
}

#[cfg(test)]
mod tests {
    use super::unique;

    fn names(raw: &[&str]) -> Vec<String> {
        let raw: Vec<String> = raw.iter().map(|s| (*s).to_owned()).collect();
        unique(&raw, "f.csv (line 1)").0
    }

    #[test]
    fn duplicates_and_blanks_get_names_of_their_own() {
        assert_eq!(names(&["a", "a", "b"]), ["a", "a_2", "b"]);
        assert_eq!(names(&["a", "", "a"]), ["a", "column_2", "a_2"]);
        assert_eq!(names(&["a", "a", "a_2"]), ["a", "a_3", "a_2"]);
        assert_eq!(names(&["", "column_1"]), ["column_1_2", "column_1"]);
        assert_eq!(names(&["prix (€)", "ok"]), ["prix ___", "ok"]);
        let (_, warnings) = unique(&["a".into(), "a".into()], "f.csv (line 1)");
        assert_eq!(
            warnings,
            ["f.csv (line 1): column 2 repeats the name `a`; it is read as `a_2`"]
        );
    }
}
