//! The smallest tracked program: log a few metrics offline and read them back.
//!
//! `cargo run --example quickstart`, then look in `./runs`.

use run_runtime::prelude::*;

fn main() -> Result<(), Error> {
    let run = Run::get_context()?;
    run.add_property("learning_rate", 0.1)?;
    let mut loss = 1.0f64;
    for epoch in 0..20 {
        loss *= 0.8;
        run.log("loss", loss)?;
        run.log_step("epoch_time_ms", 12 + epoch % 3, epoch)?;
    }
    run.tag("model", "toy")?;
    run.log_confusion_matrix("Confusion matrix", &["no", "yes"], &[[40, 2], [3, 55]])?;
    run.complete()?;

    let metrics = run.get_metrics()?;
    println!(
        "run {} ({} points of loss, last {:.4})",
        run.id(),
        metrics["loss"].len(),
        loss
    );
    println!("kept in {}", run.dir().display());
    Ok(())
}
