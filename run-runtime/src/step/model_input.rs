//! Data inputs that name a version of a registered model (`models:/NAME/3`,
//! `models:/NAME@champion`, `models:/NAME/latest`): the step gets a local folder with the
//! version's files instead of the reference.

use super::resolve::Resolved;
use super::{SlotKind, Step, StepError, StepErrorKind};
use crate::registry::{ModelRef, Registry};
use crate::run::Run;

/// Replaces the text of each input that is a model reference by a local folder with the
/// version's files (see [`Registry::local_files`]): offline the local registry's copy, online
/// a copy in the store's cache. Tags `<input>.model` with the version it resolved to
/// (`models:/NAME/3`), since an alias or `latest` may point elsewhere tomorrow.
pub(super) fn localize(step: &Step, run: &Run, values: &mut [Resolved]) -> Result<(), StepError> {
    let mut registry = None;
    for v in values
        .iter_mut()
        .filter(|v| v.kind == SlotKind::Input && ModelRef::is_model_uri(&v.text))
    {
        let failed = |e: crate::Error| {
            StepError::new(
                StepErrorKind::Binding,
                format!(
                    "step {:?}: input {:?} = {:?} ({}): {e}",
                    step.name, v.name, v.text, v.origin
                ),
            )
        };
        let reference: ModelRef = v.text.parse().map_err(failed)?;
        let registry = registry.get_or_insert_with(|| Registry::of_run(run));
        let version = registry.resolve(&reference).map_err(failed)?;
        let folder = registry
            .local_files(&version, run.store())
            .map_err(failed)?;
        let resolved = format!("models:/{}/{}", version.name, version.version);
        run.tag(&format!("{}.model", v.name), &resolved)
            .map_err(|e| StepError::record(step, &format!("record input {}", v.name), e))?;
        v.text = folder.display().to_string();
    }
    Ok(())
}
