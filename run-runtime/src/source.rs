//! Where a run comes from: program, user, host, process and git commit, recorded when it starts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The program that created a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The program's file name.
    pub program: String,
    /// Its command-line arguments, the program excluded.
    #[serde(default)]
    pub args: Vec<String>,
    /// The user name (`USER` or `USERNAME`), if known.
    #[serde(default)]
    pub user: Option<String>,
    /// The host name, if known.
    #[serde(default)]
    pub host: Option<String>,
    /// The process id.
    pub pid: u32,
    /// The working directory.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// The git commit checked out in the working directory, if any.
    #[serde(default)]
    pub git_commit: Option<String>,
}

impl Source {
    /// Describes the current process.
    pub fn current() -> Self {
        let mut args = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
        let program = args
            .next()
            .map(|p| {
                Path::new(&p)
                    .file_name()
                    .map_or(p.clone(), |f| f.to_string_lossy().into())
            })
            .unwrap_or_default();
        let cwd = std::env::current_dir().ok();
        Source {
            program,
            args: args.collect(),
            user: ["USER", "USERNAME"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
                .or_else(account_name),
            host: host_name(),
            pid: std::process::id(),
            git_commit: cwd.as_deref().and_then(git_commit),
            cwd,
        }
    }
}

/// The name of a process's run: its program's name.
pub(crate) fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "run".to_owned())
}

/// The name of the account the process runs as, from the password database.
#[cfg(unix)]
fn account_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to overwrite.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf` is as long as we say.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty())
}

#[cfg(not(unix))]
fn account_name() -> Option<String> {
    None
}

fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// The commit `HEAD` points to in the repository containing `dir`, read from `.git` without
/// running git.
pub(crate) fn git_commit(dir: &Path) -> Option<String> {
    let git = dir
        .ancestors()
        .map(|d| d.join(".git"))
        .find(|g| g.exists())?;
    let git = if git.is_file() {
        // A worktree or submodule: `.git` is a file saying `gitdir: <path>`.
        let text = std::fs::read_to_string(&git).ok()?;
        let target = text.strip_prefix("gitdir:")?.trim();
        git.parent()?.join(target)
    } else {
        git
    };
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:").map(str::trim) else {
        return is_sha(head).then(|| head.to_owned());
    };
    // Worktrees keep refs in the common directory.
    let common = std::fs::read_to_string(git.join("commondir"))
        .map(|c| git.join(c.trim()))
        .unwrap_or_else(|_| git.clone());
    for base in [&git, &common] {
        if let Ok(sha) = std::fs::read_to_string(base.join(reference)) {
            let sha = sha.trim();
            if is_sha(sha) {
                return Some(sha.to_owned());
            }
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (sha, name) = line.split_once(' ')?;
        (name == reference && is_sha(sha)).then(|| sha.to_owned())
    })
}

fn is_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_loose_packed_and_detached_heads() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        let sha = "0123456789abcdef0123456789abcdef01234567";
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(git.join("refs/heads/main"), format!("{sha}\n")).unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(git_commit(&sub).as_deref(), Some(sha));

        std::fs::remove_file(git.join("refs/heads/main")).unwrap();
        let other = "fedcba9876543210fedcba9876543210fedcba98";
        std::fs::write(
            git.join("packed-refs"),
            format!("# pack\n{other} refs/heads/main\n"),
        )
        .unwrap();
        assert_eq!(git_commit(dir.path()).as_deref(), Some(other));

        std::fs::write(git.join("HEAD"), format!("{sha}\n")).unwrap();
        assert_eq!(git_commit(dir.path()).as_deref(), Some(sha));
    }

    #[test]
    fn the_user_is_known_even_without_user_variables() {
        assert!(Source::current().user.is_some_and(|u| !u.is_empty()));
    }

    #[test]
    fn no_repository_no_commit() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(git_commit(dir.path()), None);
    }
}
