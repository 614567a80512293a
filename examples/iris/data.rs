//! The Iris data: reading the raw CSV (dropping the rows that cannot be used), the stratified
//! train/test split, and the CSV files the steps pass to each other.

use std::collections::HashSet;
use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;

/// The measurements, in the order of the CSV's columns.
pub const FEATURES: [&str; 4] = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
/// The classes, by index.
pub const SPECIES: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// One flower.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Its measurements in cm, in the order of [`FEATURES`].
    pub features: [f64; 4],
    /// Its species, an index into [`SPECIES`].
    pub species: u32,
}

/// What cleaning the raw data did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cleaning {
    /// Data rows read.
    pub rows: usize,
    /// Rows dropped: a wrong number of columns, a measurement that is not a positive number,
    /// an unknown species.
    pub invalid: usize,
    /// Rows dropped because an identical row came before.
    pub duplicates: usize,
}

/// Reads the raw CSV (header `sepal_length,sepal_width,petal_length,petal_width,species`),
/// keeping the rows that can be used.
pub fn read_raw(path: &Path) -> Result<(Vec<Sample>, Cleaning), Box<dyn Error>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the Iris data {}: {e}", path.display()))?;
    let mut lines = text.lines();
    check_header(path, lines.next())?;
    let mut cleaning = Cleaning::default();
    let mut seen = HashSet::new();
    let mut samples = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        cleaning.rows += 1;
        let Some(sample) = parse_row(line) else {
            cleaning.invalid += 1;
            continue;
        };
        if !seen.insert(sample.features.map(f64::to_bits)) {
            cleaning.duplicates += 1;
            continue;
        }
        samples.push(sample);
    }
    if samples.is_empty() {
        return Err(format!("{} has no usable rows", path.display()).into());
    }
    Ok((samples, cleaning))
}

fn check_header(path: &Path, header: Option<&str>) -> Result<(), Box<dyn Error>> {
    let expected = format!("{},species", FEATURES.join(","));
    match header.map(str::trim) {
        Some(h) if h == expected => Ok(()),
        other => Err(format!(
            "{} does not start with the header {expected:?} (it starts with {:?})",
            path.display(),
            other.unwrap_or("nothing")
        )
        .into()),
    }
}

fn parse_row(line: &str) -> Option<Sample> {
    let cells: Vec<&str> = line.split(',').map(str::trim).collect();
    let [a, b, c, d, species] = cells.as_slice() else {
        return None;
    };
    let mut features = [0.0; 4];
    for (slot, cell) in features.iter_mut().zip([a, b, c, d]) {
        *slot = cell
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)?;
    }
    let species = SPECIES.iter().position(|s| s == species)? as u32;
    Some(Sample { features, species })
}

/// Splits `samples` into train and test sets, the same share of each species in both,
/// shuffled by `seed`.
pub fn split(samples: &[Sample], test_fraction: f64, seed: u64) -> (Vec<Sample>, Vec<Sample>) {
    let mut rng = SplitMix(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for species in 0..SPECIES.len() as u32 {
        let mut group: Vec<Sample> = samples
            .iter()
            .filter(|s| s.species == species)
            .copied()
            .collect();
        // Fisher-Yates.
        for i in (1..group.len()).rev() {
            group.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        let n_test = (group.len() as f64 * test_fraction).round() as usize;
        test.extend_from_slice(&group[..n_test]);
        train.extend_from_slice(&group[n_test..]);
    }
    (train, test)
}

/// Reads a CSV written by [`write_csv`].
pub fn read_csv(path: &Path) -> Result<Vec<Sample>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = text.lines();
    check_header(path, lines.next())?;
    lines
        .enumerate()
        .map(|(i, line)| {
            parse_row(line).ok_or_else(|| {
                format!(
                    "{} line {}: not a valid row: {line:?}",
                    path.display(),
                    i + 2
                )
                .into()
            })
        })
        .collect()
}

/// Writes samples as CSV, with the raw data's header.
pub fn write_csv(path: &Path, samples: &[Sample]) -> Result<(), Box<dyn Error>> {
    let mut text = format!("{},species\n", FEATURES.join(","));
    for s in samples {
        let [a, b, c, d] = s.features;
        let _ = writeln!(text, "{a},{b},{c},{d},{}", SPECIES[s.species as usize]);
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

/// The measurements as rows, and the species.
pub fn columns(samples: &[Sample]) -> (Vec<Vec<f64>>, Vec<u32>) {
    (
        samples.iter().map(|s| s.features.to_vec()).collect(),
        samples.iter().map(|s| s.species).collect(),
    )
}

/// SplitMix64: a small, well-mixed generator, so the split is the same on every machine.
/// (The training-loop example has the same ten lines on purpose: each example is read, and
/// copied, as a program of its own.)
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
