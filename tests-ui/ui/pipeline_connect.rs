use run_runtime::prelude::*;

#[aml_step(inputs(raw = "data/raw.csv"), outputs(split, clean))]
fn prep(raw: &Path, split: &Path, clean: &Path) {
    let _ = (raw, split, clean);
}

#[aml_step(inputs(training_data, clean), outputs(model), params(epochs = 3))]
fn train(training_data: &Path, clean: &Path, model: &Path, epochs: u32) {
    let _ = (training_data, clean, model, epochs);
}

#[aml_step(inputs(scores))]
fn report(scores: &Path) {
    let _ = scores;
}

// A typo in an input, an output where an input goes, a param where an output goes, an input
// connected twice, an input that already reads an output of its name, and a step not in the
// pipeline: each an error at its end of the connection.
pipeline!(
    iris = [prep, train],
    connect(
        train.traning_data = prep.split,
        train.training_data = prep.split,
        train.model = prep.split,
        train.training_data = prep.raw,
        train.training_data = prep.clean,
        train.clean = prep.split,
        report.scores = train.model,
    ),
);

// Not `reader.input = writer.output`: an error of its own (the graph is checked once it is
// fixed).
pipeline!(flow = [prep], connect(train = prep));

fn main() {}
