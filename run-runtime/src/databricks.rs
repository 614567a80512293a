//! The Databricks workspace a `databricks` or `databricks://<profile>` tracking URI names: its
//! host and token, read as MLflow reads them (through the Databricks SDK's `Config`, version
//! 0.162):
//!
//! 1. the profile is the URI's, else `DATABRICKS_CONFIG_PROFILE`, else none;
//! 2. `DATABRICKS_HOST` and `DATABRICKS_TOKEN` come first;
//! 3. the configuration file (`DATABRICKS_CONFIG_FILE`, else `~/.databrickscfg`) fills what they
//!    leave unset, from the profile, or from `[DEFAULT]` without one; without a profile it is
//!    not read at all once either variable is set. A profile named but missing (or its file
//!    missing) is an error; a missing `[DEFAULT]` is not.
//!
//! The file is INI as Python's `configparser` reads it; only `host` and `token` are used, so a
//! small reader here does (a profile that authenticates otherwise, OAuth or Azure CLI, is an
//! error that says so).

/// The largest configuration file read: far above any real one, and a bound on what a wrong
/// path makes the process read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A workspace's host and token.
pub(crate) struct DatabricksConfig {
    /// `https://<workspace>` (no trailing `/`).
    pub host: String,
    /// The personal access token (the online backend's to send).
    #[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
    pub token: String,
    /// Where the token came from, for messages: `DATABRICKS_TOKEN` or `<file> [<profile>]`.
    #[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
    pub token_from: String,
}

impl std::fmt::Debug for DatabricksConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabricksConfig({}, <redacted>)", self.host)
    }
}

/// The host and token for `profile` (the URI's), with variables read through `get`; the error
/// says what is missing and where to set it.
pub(crate) fn resolve(
    profile: Option<&str>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<DatabricksConfig, String> {
    let var = |k: &str| {
        get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(p) = profile.filter(|p| p.contains(':')) {
        return Err(format!(
            "databricks://{p} names a secret scope and prefix, which only a Databricks cluster \
             can read; name a profile of ~/.databrickscfg, databricks://<profile>, or set \
             DATABRICKS_HOST and DATABRICKS_TOKEN"
        ));
    }
    let explicit = profile.filter(|p| !p.is_empty()).map(str::to_owned);
    let explicit = explicit.or_else(|| var("DATABRICKS_CONFIG_PROFILE"));
    let mut host = var("DATABRICKS_HOST");
    let mut token = var("DATABRICKS_TOKEN").map(|t| (t, "DATABRICKS_TOKEN".to_owned()));
    let file = var("DATABRICKS_CONFIG_FILE")
        .or_else(|| var("HOME").map(|h| format!("{h}/.databrickscfg")));
    let read_file = explicit.is_some() || (host.is_none() && token.is_none());
    if let (true, Some(file)) = (read_file, &file) {
        let name = explicit.as_deref().unwrap_or("DEFAULT");
        if let Some(section) = read_profile(file, name, explicit.is_some())? {
            let field = |k: &str| {
                section
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
                    .filter(|v| !v.is_empty())
            };
            host = host.or_else(|| field("host"));
            token = token.or_else(|| field("token").map(|t| (t, format!("{file} [{name}]"))));
        }
    }
    let place = match &explicit {
        Some(p) => format!("the profile [{p}] of {}", file.as_deref().unwrap_or("?")),
        None => "DATABRICKS_HOST and DATABRICKS_TOKEN, or [DEFAULT] of ~/.databrickscfg".into(),
    };
    let host = host.ok_or_else(|| {
        format!("no Databricks host: set it in {place} (https://<workspace>.cloud.databricks.com)")
    })?;
    let (token, token_from) = token.ok_or_else(|| {
        format!(
            "no Databricks token for {host}: set a personal access token in {place} (other \
             ways of signing in, OAuth or the Azure CLI, are not read by this client)"
        )
    })?;
    // As the SDK does: a host without a scheme is https.
    let host = match host.contains("://") {
        true => host,
        false => format!("https://{host}"),
    };
    Ok(DatabricksConfig {
        host: host.trim_end_matches('/').to_owned(),
        token,
        token_from,
    })
}

/// The `key = value` pairs of section `name` of the INI file at `path` (keys lowercase, as
/// `configparser` gives them). A file or section that is missing is `None`, or an error when
/// `required`.
fn read_profile(
    path: &str,
    name: &str,
    required: bool,
) -> Result<Option<Vec<(String, String)>>, String> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot read the Databricks configuration {path}: {e}"
            ));
        }
    };
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the Databricks configuration {path}: {e}"))?;
    let mut section: Option<&str> = None;
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(header.trim());
            if section == Some(name) {
                found.get_or_insert_with(Vec::new);
            }
            continue;
        }
        if section != Some(name) {
            continue;
        }
        // `configparser` splits at the first `=` or `:`.
        if let Some(at) = line.find(['=', ':']) {
            let key = line[..at].trim().to_ascii_lowercase();
            let value = line[at + 1..].trim().to_owned();
            found.get_or_insert_with(Vec::new).push((key, value));
        }
    }
    match (found, required) {
        (None, true) => Err(format!(
            "the Databricks configuration {path} has no profile [{name}]"
        )),
        (found, _) => Ok(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    const CFG: &str = "; the CLI writes this\n[DEFAULT]\nhost = https://default.cloud.databricks.com/\n\
                       token = dapiDEFAULT\n\n[prod]\nhost: prod.cloud.databricks.com\nTOKEN = dapiPROD\n\
                       [oauth]\nhost = https://o.cloud.databricks.com\nauth_type = databricks-cli\n";

    #[test]
    fn host_and_token_come_from_the_variables_then_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cfg");
        std::fs::write(&file, CFG).unwrap();
        let file = file.to_str().unwrap();
        let with_file = [("DATABRICKS_CONFIG_FILE", file)];
        // No profile: [DEFAULT].
        let c = resolve(None, &lookup(&with_file)).unwrap();
        assert_eq!(
            (c.host.as_str(), c.token.as_str()),
            ("https://default.cloud.databricks.com", "dapiDEFAULT")
        );
        assert_eq!(c.token_from, format!("{file} [DEFAULT]"));
        // A profile: its host gets https://, its key is read whatever its case.
        let c = resolve(Some("prod"), &lookup(&with_file)).unwrap();
        assert_eq!(
            (c.host.as_str(), c.token.as_str()),
            ("https://prod.cloud.databricks.com", "dapiPROD")
        );
        // DATABRICKS_CONFIG_PROFILE is the profile when the URI names none.
        let vars = [
            ("DATABRICKS_CONFIG_FILE", file),
            ("DATABRICKS_CONFIG_PROFILE", "prod"),
        ];
        assert_eq!(resolve(None, &lookup(&vars)).unwrap().token, "dapiPROD");
        // The variables win over the profile, which fills the rest.
        let vars = [
            ("DATABRICKS_CONFIG_FILE", file),
            ("DATABRICKS_TOKEN", "dapiENV"),
        ];
        let c = resolve(Some("prod"), &lookup(&vars)).unwrap();
        assert_eq!(
            (c.host.as_str(), c.token.as_str(), c.token_from.as_str()),
            (
                "https://prod.cloud.databricks.com",
                "dapiENV",
                "DATABRICKS_TOKEN"
            )
        );
        // Without a profile, a variable set means the file is not read.
        let vars = [
            ("DATABRICKS_CONFIG_FILE", file),
            ("DATABRICKS_HOST", "http://127.0.0.1:9"),
        ];
        let e = resolve(None, &lookup(&vars)).unwrap_err();
        assert!(
            e.starts_with("no Databricks token for http://127.0.0.1:9"),
            "{e}"
        );
        // HOME/.databrickscfg is the default file.
        std::fs::write(dir.path().join(".databrickscfg"), CFG).unwrap();
        let home = [("HOME", dir.path().to_str().unwrap())];
        assert_eq!(
            resolve(Some("prod"), &lookup(&home)).unwrap().token,
            "dapiPROD"
        );
    }

    #[test]
    fn what_is_missing_is_an_error_saying_where_to_set_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cfg");
        std::fs::write(&file, CFG).unwrap();
        let file = file.to_str().unwrap();
        let with_file = [("DATABRICKS_CONFIG_FILE", file)];
        let e = resolve(Some("staging"), &lookup(&with_file)).unwrap_err();
        assert_eq!(
            e,
            format!("the Databricks configuration {file} has no profile [staging]")
        );
        let e = resolve(Some("oauth"), &lookup(&with_file)).unwrap_err();
        assert!(
            e.starts_with(
                "no Databricks token for https://o.cloud.databricks.com: set a personal access \
                 token in the profile [oauth] of"
            ),
            "{e}"
        );
        let e = resolve(None, &lookup(&[])).unwrap_err();
        assert!(e.contains("DATABRICKS_HOST and DATABRICKS_TOKEN"), "{e}");
        let missing = [("DATABRICKS_CONFIG_FILE", "/nonexistent/cfg")];
        let e = resolve(Some("prod"), &lookup(&missing)).unwrap_err();
        assert!(
            e.contains("cannot read the Databricks configuration /nonexistent/cfg"),
            "{e}"
        );
        let e = resolve(Some("scope:prefix"), &lookup(&[])).unwrap_err();
        assert!(e.contains("secret scope"), "{e}");
        assert!(!format!("{:?}", resolve(None, &lookup(&with_file)).unwrap()).contains("dapi"));
    }
}
