//! "Did you mean" suggestions.

/// The candidate closest to `wanted`, if one is close enough to be a likely typo.
pub fn closest<'a>(wanted: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (levenshtein(wanted, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Edit distance in characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
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
