//! "Did you mean …?" suggestions for misspelt names.

/// The candidate closest to `found`, when one is close enough to be a likely typo.
pub fn closest<'a>(found: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = found.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(distance, c)| *distance <= (c.len().max(found.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggests_close_names_only() {
        assert_eq!(super::closest("nmae", ["name", "id", "labels"]), Some("name"));
        assert_eq!(super::closest("dataset", ["Dataset", "Datastore"]), Some("Dataset"));
        assert_eq!(super::closest("zzzz", ["name", "id"]), None);
    }
}
