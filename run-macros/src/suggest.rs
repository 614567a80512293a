//! "Did you mean" suggestions.

/// The candidate closest to `wanted`, if one is close enough to be a likely typo.
pub fn closest<'a>(wanted: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (run_rules::levenshtein(wanted, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_a_close_name_only() {
        let names = ["threshold", "irisdata", "model_output"];
        assert_eq!(closest("treshold", &names), Some("threshold"));
        assert_eq!(closest("iris_data", &names), Some("irisdata"));
        assert_eq!(closest("learning_rate", &names), None);
        assert_eq!(closest("x", &[]), None);
    }
}
