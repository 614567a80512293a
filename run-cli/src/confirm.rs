//! Asking before deleting.

use std::io::{BufRead, Write};

use crate::failure::{Failure, Kind};

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
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    let read = std::io::stdin().lock().read_line(&mut answer);
    match read {
        Ok(0) => {
            let _ = writeln!(stderr);
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
