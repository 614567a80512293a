//! A bearer token kept in a file (`RUNCTX_TRACKING_TOKEN_FILE`), read when shipping starts and
//! read again when the server answers 401, so a long job outlives its token.
//!
//! A file and not a command: platforms already rotate tokens in files for the processes they
//! run (Kubernetes projected service-account tokens, Azure workload identity's
//! `AZURE_FEDERATED_TOKEN_FILE`, a sidecar such as Vault Agent), and reading a file runs
//! nothing; a command taken from an environment variable would run whatever the environment
//! says, with the program's rights.
//!
//! What the file holds is checked where it is read, every time: one line (a trailing newline
//! and surrounding white space are ignored), not empty, at most [`MAX_TOKEN_FILE_BYTES`],
//! printable ASCII without spaces (what an `Authorization` header can carry). Errors name the
//! variable, the file and the rule, never the token.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::client::Secret;
use crate::error::{Error, Result};

/// The variable that names the file.
pub(crate) const TOKEN_FILE_VAR: &str = "RUNCTX_TRACKING_TOKEN_FILE";

/// The largest token file read: far above any real token (an Azure AD access token is a few
/// KiB), and a bound on what a wrong path (a log file, a device) can make the process read.
pub(crate) const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// A token file and the token last read from it.
pub(crate) struct TokenFile {
    path: PathBuf,
    current: Mutex<Secret>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenFile({}, <redacted>)", self.path.display())
    }
}

impl TokenFile {
    /// Reads the token in `path`; an error names the variable, the file and the rule broken.
    pub(crate) fn open(path: &Path) -> Result<TokenFile> {
        let token = read_token(path).map_err(|reason| Error::Config {
            var: TOKEN_FILE_VAR,
            value: path.display().to_string(),
            reason,
        })?;
        Ok(TokenFile {
            path: path.to_owned(),
            current: Mutex::new(token),
        })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The token last read.
    pub(crate) fn current(&self) -> Secret {
        crate::process::lock(&self.current).clone()
    }

    /// Reads the file again, and keeps what it holds if that is a token: what it holds, or
    /// which rule it breaks.
    pub(crate) fn reread(&self) -> std::result::Result<Secret, String> {
        let token = read_token(&self.path)?;
        *crate::process::lock(&self.current) = token.clone();
        Ok(token)
    }
}

/// The token in the file at `path`, checked.
fn read_token(path: &Path) -> std::result::Result<Secret, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(format!(
            "it holds more than {MAX_TOKEN_FILE_BYTES} bytes; a token file holds one token"
        ));
    }
    let token = bytes.trim_ascii();
    check_token(token)?;
    let token = std::str::from_utf8(token).expect("checked: printable ASCII");
    Ok(Secret::new(token))
}

/// Checks a bearer token: not empty, one line, printable ASCII without spaces. The reason never
/// shows the token, only where the problem is.
pub(crate) fn check_token(token: &[u8]) -> std::result::Result<(), String> {
    if token.is_empty() {
        return Err("it holds no token".into());
    }
    if token.contains(&b'\n') || token.contains(&b'\r') {
        return Err("it holds more than one line; it must hold the token alone".into());
    }
    if let Some(at) = token.iter().position(|b| b.is_ascii_control()) {
        return Err(format!(
            "the token has a control character at byte {}",
            at + 1
        ));
    }
    if let Some(at) = token.iter().position(|b| !b.is_ascii_graphic()) {
        return Err(format!(
            "the token has a space or a non-ASCII character at byte {}, which an HTTP header \
             cannot carry; a token is printable ASCII without spaces",
            at + 1
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(content: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), content).unwrap();
        file
    }

    #[test]
    fn a_token_file_holds_one_token_and_its_line_end_is_ignored() {
        let file = written(b"  eyJ0eXAi.eyJzdWIi.c2ln\n");
        let token = TokenFile::open(file.path()).unwrap();
        assert!(token.current().is("eyJ0eXAi.eyJzdWIi.c2ln"));
        assert!(!format!("{token:?}").contains("eyJ"), "{token:?}");
        std::fs::write(file.path(), b"second\r\n").unwrap();
        assert!(token.reread().unwrap().is("second"));
        assert!(token.current().is("second"));
        // A file that breaks a rule later keeps the token read before.
        std::fs::write(file.path(), b"").unwrap();
        assert!(token.reread().is_err());
        assert!(token.current().is("second"));
    }

    #[test]
    fn a_bad_token_file_is_an_error_naming_the_variable_and_the_rule_not_the_token() {
        let big = vec![b'a'; MAX_TOKEN_FILE_BYTES as usize + 1];
        let cases: [(&[u8], &str); 6] = [
            (b"", "it holds no token"),
            (b" \n\n", "it holds no token"),
            (b"secret-one\nsecret-two\n", "more than one line"),
            (b"secret\x07bell", "a control character at byte 7"),
            (
                b"secret with space",
                "a space or a non-ASCII character at byte 7",
            ),
            (&big, "more than 65536 bytes"),
        ];
        for (content, rule) in cases {
            let file = written(content);
            let e = TokenFile::open(file.path()).unwrap_err().to_string();
            let path = file.path().display().to_string();
            assert!(
                e.starts_with(&format!("{TOKEN_FILE_VAR}={path:?} is invalid: "))
                    && e.contains(rule),
                "{e}"
            );
            assert!(!e.contains("secret"), "the token is never shown: {e}");
        }
        let e = TokenFile::open(Path::new("/nonexistent/token"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "RUNCTX_TRACKING_TOKEN_FILE=\"/nonexistent/token\" is invalid: cannot read it"
            ),
            "{e}"
        );
        assert!(
            check_token("ünicode".as_bytes())
                .unwrap_err()
                .contains("byte 1")
        );
    }
}
