//! Steps of a graph at once: each step starts as soon as the steps it reads from have finished
//! and fewer than the limit are running, so the graph's critical path decides the wall time.
//! A step whose input comes from a failed (or skipped) step is skipped as soon as that is known;
//! the steps that do not depend on it go on.

use std::num::NonZeroUsize;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;

use crate::error::{Error, Result, Status};
use crate::step::Step;

use super::Pipeline;
use super::exec::StepRun;

/// A step running in this process gets the stack the main thread has on Linux, where it ran
/// before steps ran at once: a spawned thread's default (2 MiB) is smaller. Only the pages a
/// step touches take memory.
const STEP_STACK: usize = 8 << 20;

/// What running a graph does with each step.
pub(super) struct Work<'w> {
    /// Runs a step and says how it went; called on a thread of its own.
    pub start: &'w (dyn Fn(&'static Step) -> Result<StepRun> + Sync),
    /// Records that a step does not run because the named step failed; on the calling thread.
    pub skip: &'w dyn Fn(&'static Step, &'static str) -> Result<StepRun>,
    /// Told of each step as it ends, on the calling thread: its number in end order (from 1)
    /// and how it went.
    pub ended: &'w mut dyn FnMut(usize, &StepRun),
}

/// Whether a step can start, given the steps that ended.
#[derive(Debug, PartialEq, Eq)]
enum Readiness {
    /// A step it reads from has not ended.
    Wait,
    /// Every step it reads from finished.
    Go,
    /// A step it reads from, directly or through skipped steps, failed: this one.
    Blocked(&'static str),
}

fn readiness(pipeline: &Pipeline, step: &Step, ended: &[StepRun]) -> Readiness {
    let mut waiting = false;
    for name in pipeline.upstream(step) {
        match ended.iter().find(|e| e.step == name) {
            None => waiting = true,
            Some(e) => match (e.status, e.skipped_because) {
                (Status::Finished, _) => {}
                (_, Some(cause)) => return Readiness::Blocked(cause),
                _ => return Readiness::Blocked(e.step),
            },
        }
    }
    match waiting {
        true => Readiness::Wait,
        false => Readiness::Go,
    }
}

/// Runs the steps of `pipeline`, at most `limit` at once, and returns how each went, in the
/// order they ended. An error of `work` (a run that cannot be created) starts no more steps,
/// waits for the running ones, and is returned; a panic of the runner itself (not of a step:
/// `start` catches those) is resumed once the running steps have ended.
pub(super) fn run_graph(
    pipeline: &Pipeline,
    limit: NonZeroUsize,
    work: Work<'_>,
) -> Result<Vec<StepRun>> {
    let Work {
        start,
        skip,
        ended: report,
    } = work;
    let mut pending: Vec<&'static Step> = pipeline.steps().to_vec();
    let mut ended: Vec<StepRun> = Vec::with_capacity(pending.len());
    let mut error: Option<Error> = None;
    let mut panicked = None;
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel();
        let mut running = 0;
        loop {
            // `pending` is in run order, so a step skipped here is in `ended` before the steps
            // that read from it are looked at, in this same pass.
            let mut i = 0;
            while error.is_none() && panicked.is_none() && i < pending.len() {
                let step = pending[i];
                match readiness(pipeline, step, &ended) {
                    Readiness::Wait => i += 1,
                    Readiness::Go if running >= limit.get() => i += 1,
                    Readiness::Go => {
                        pending.remove(i);
                        let sender = sender.clone();
                        let spawned = std::thread::Builder::new()
                            .name(step.name.to_owned())
                            .stack_size(STEP_STACK)
                            .spawn_scoped(scope, move || {
                                let outcome = panic::catch_unwind(AssertUnwindSafe(|| start(step)));
                                // The receiver lives until every started step has sent.
                                let _ = sender.send(outcome);
                            });
                        match spawned {
                            Ok(_) => running += 1,
                            Err(e) => error = Some(Error::io("start a thread for", step.name, e)),
                        }
                    }
                    Readiness::Blocked(cause) => {
                        pending.remove(i);
                        match skip(step, cause) {
                            Ok(outcome) => {
                                ended.push(outcome);
                                report(ended.len(), &ended[ended.len() - 1]);
                            }
                            Err(e) => error = Some(e),
                        }
                    }
                }
            }
            if running == 0 {
                break;
            }
            // This loop holds a sender, so `recv` returns once a started step has ended.
            let Ok(outcome) = receiver.recv() else { break };
            running -= 1;
            match outcome {
                Ok(Ok(outcome)) => {
                    ended.push(outcome);
                    report(ended.len(), &ended[ended.len() - 1]);
                }
                Ok(Err(e)) => {
                    error.get_or_insert(e);
                }
                Err(payload) => {
                    panicked.get_or_insert(payload);
                }
            }
        }
    });
    if let Some(payload) = panicked {
        panic::resume_unwind(payload);
    }
    match error {
        Some(e) => Err(e),
        None => Ok(ended),
    }
}
