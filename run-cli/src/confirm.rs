//! Asking before deleting.

use std::io::BufRead;

use crate::failure::{Failure, Kind};
use crate::output;

/// Asks `question` on stderr and reads the answer from stdin: `y` or `yes` goes ahead,
/// anything else (an empty line, or no answer at all) declines. `yes` (from `--yes`) skips the
/// question.
///
/// A piped answer counts (`echo y | runctx delete RUN`), so scripts can answer; a script that
/// does not mean to answer passes `--yes`.
pub fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    output::eprint(&format!("{question} [y/N] "));
    let mut answer = String::new();
    let read = std::io::stdin().lock().read_line(&mut answer);
    match read {
        Ok(0) => {
            output::eprint("\n");
            Err(Failure::new(
                Kind::Declined,
                "no answer (stdin is closed), so nothing was deleted; pass --yes to delete \
                 without asking",
            ))
        }
        Ok(_) if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") => Ok(()),
        Ok(_) => Err(Failure::new(Kind::Declined, "nothing was deleted")),
        Err(e) => Err(Failure::io(
            "read the answer from",
            std::path::Path::new("stdin"),
            e,
        )),
    }
}
