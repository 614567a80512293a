use run_runtime::prelude::*;

#[aml_step(inputs(feedback), outputs(model))]
fn train(feedback: &Path, model: &Path) {
    let _ = (feedback, model);
}

#[aml_step(inputs(candidate), outputs(review))]
fn evaluate(candidate: &Path, review: &Path) {
    let _ = (candidate, review);
}

// Connections make a cycle like same-named data does; and a step cannot read itself.
pipeline!(
    iris = [train, evaluate],
    connect(evaluate.candidate = train.model, train.feedback = evaluate.review),
);

#[aml_step(inputs(previous), outputs(next))]
fn grow(previous: &Path, next: &Path) {
    let _ = (previous, next);
}

pipeline!(loops = [grow], connect(grow.previous = grow.next));

fn main() {}
