//! The three steps of the Iris pipeline, each a child run of the pipeline's run.

use std::error::Error;

use run_runtime::prelude::*;

use super::data::{self, SPECIES};
use super::models::{self, Classifier};

/// Cleans the raw data and splits it into `split/train.csv` and `split/test.csv`.
#[aml_step(
    description = "clean the Iris data and split it into train and test sets",
    inputs(irisdata = "examples/iris/sample_data.csv"),
    outputs(split = "outputs/split"),
    params(test_fraction = 0.3, seed = 7)
)]
pub fn prep(
    run: &Run,
    irisdata: &Path,
    split: &Path,
    test_fraction: f64,
    seed: u64,
) -> Result<(), Box<dyn Error>> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(format!(
            "test_fraction {test_fraction} is not a share: give a value between 0 and 1"
        )
        .into());
    }
    let (samples, cleaning) = data::read_raw(irisdata)?;
    let (train, test) = data::split(&samples, test_fraction, seed);
    data::write_csv(&split.join("train.csv"), &train)?;
    data::write_csv(&split.join("test.csv"), &test)?;
    run.log("rows", cleaning.rows)?;
    run.log("rows_invalid", cleaning.invalid)?;
    run.log("rows_duplicate", cleaning.duplicates)?;
    run.log("train_rows", train.len())?;
    run.log("test_rows", test.len())?;
    println!(
        "prep: {} rows read, {} invalid and {} duplicates dropped; {} to train on, {} to test",
        cleaning.rows,
        cleaning.invalid,
        cleaning.duplicates,
        train.len(),
        test.len()
    );
    Ok(())
}

/// Trains each classifier on the train set, scores it on the test set, keeps the best.
#[aml_step(
    description = "train three classifiers and keep the most accurate",
    inputs(split),
    outputs(model = "outputs/model")
)]
pub fn train(run: &Run, split: &Path, model: &Path) -> Result<(), Box<dyn Error>> {
    let (train_x, train_y) = data::columns(&data::read_csv(&split.join("train.csv"))?);
    let (test_x, test_y) = data::columns(&data::read_csv(&split.join("test.csv"))?);
    let test_x = models::matrix(&test_x)?;
    let mut best: Option<(Classifier, f64)> = None;
    for classifier in models::train_all(&train_x, &train_y)? {
        let predicted = classifier.predict(&test_x)?;
        let accuracy = score(run, classifier.name(), &predicted, &test_y)?;
        std::fs::write(
            model.join(format!("{}.json", classifier.name())),
            classifier.to_json()?,
        )?;
        println!("train: {:<20} accuracy {accuracy:.4}", classifier.name());
        if best.as_ref().is_none_or(|(_, a)| accuracy > *a) {
            best = Some((classifier, accuracy));
        }
    }
    let (classifier, accuracy) = best.ok_or("no classifier was trained")?;
    let accuracy = format!("{accuracy:.4}");
    save_best(model, &classifier, &accuracy)?;
    run.log("accuracy", accuracy.parse::<f64>()?)?;
    run.tag("best_model", classifier.name())?;
    let parent = run
        .parent()
        .ok_or("the train step runs in a pipeline: its run has no parent")?;
    let facts = [
        ("best_model", classifier.name()),
        ("accuracy", accuracy.as_str()),
    ];
    parent.add_properties(facts)?;
    parent.set_tags(facts)?;
    println!(
        "train: the best is {} (accuracy {accuracy})",
        classifier.name()
    );
    Ok(())
}

/// Logs a classifier's accuracy and confusion matrix; returns the accuracy.
fn score(run: &Run, name: &str, predicted: &[u32], truth: &[u32]) -> Result<f64, Box<dyn Error>> {
    let mut matrix = [[0u64; 3]; 3];
    for (&p, &t) in predicted.iter().zip(truth) {
        matrix[t as usize][p as usize] += 1;
    }
    let correct = (0..3).map(|i| matrix[i][i]).sum::<u64>();
    let accuracy = correct as f64 / truth.len() as f64;
    run.log(&format!("accuracy_{name}"), accuracy)?;
    run.log_confusion_matrix(&format!("Confusion matrix {name}"), &SPECIES, &matrix)?;
    Ok(accuracy)
}

/// `model/best/`: the best classifier (`model.json`) and what it is (`info.json`).
fn save_best(model: &Path, classifier: &Classifier, accuracy: &str) -> Result<(), Box<dyn Error>> {
    let best = model.join("best");
    std::fs::create_dir_all(&best)?;
    std::fs::write(best.join("model.json"), classifier.to_json()?)?;
    let info = serde_json::json!({
        "algorithm": classifier.name(),
        "accuracy": accuracy.parse::<f64>()?,
        "features": data::FEATURES,
        "classes": SPECIES,
        "library": "smartcore 0.7",
    });
    std::fs::write(best.join("info.json"), serde_json::to_vec_pretty(&info)?)?;
    Ok(())
}

/// Registers the best model if its accuracy reaches `threshold`; tags the pipeline's run with
/// the decision either way.
#[aml_step(
    description = "register the best model if it is accurate enough",
    // Registering is a side effect: it happens at every run, never taken from an earlier one.
    reuse = false,
    inputs(model),
    params(threshold = 0.9, model_name = "iris-classifier")
)]
pub fn register(
    run: &Run,
    model: &Path,
    threshold: f64,
    model_name: String,
) -> Result<(), Box<dyn Error>> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(
            format!("threshold {threshold} is not an accuracy: give a value from 0 to 1").into(),
        );
    }
    let parent = run
        .parent()
        .ok_or("the register step runs in a pipeline: its run has no parent")?;
    // The facts come with the model, not from the pipeline's run: an input is what reuse
    // sees, so a `train` reused from an earlier run still hands them over.
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("best/info.json"))?)?;
    let accuracy = info["accuracy"]
        .as_f64()
        .ok_or("best/info.json has no number \"accuracy\"; the train step writes it")?;
    let algorithm = info["algorithm"].as_str().unwrap_or("unknown");
    if accuracy < threshold {
        let decision =
            format!("not registered: accuracy {accuracy} is below the threshold {threshold}");
        parent.set_tags([("registered", "false"), ("registration", decision.as_str())])?;
        run.tag("registered", false)?;
        println!("register: {decision}");
        return Ok(());
    }
    let options = ModelOptions::new()
        .tag("algorithm", algorithm)
        .tag("accuracy", accuracy)
        .description(format!(
            "{algorithm} trained on the Iris data, test accuracy {accuracy}"
        ));
    let version = run.register_model(&model_name, model.join("best"), &options)?;
    let decision = format!(
        "registered {} version {}: accuracy {accuracy} reaches the threshold {threshold}",
        version.name, version.version
    );
    parent.set_tags([
        ("registered", "true"),
        ("registration", decision.as_str()),
        ("registered_version", &version.version.to_string()),
    ])?;
    run.tag("registered", true)?;
    println!("register: {decision}");
    Ok(())
}
