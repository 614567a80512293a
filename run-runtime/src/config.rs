//! What the environment says about tracking: offline or online, where, and as which run.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `MLFLOW_TRACKING_URI` | `http(s)://host[:port][/path]`, `azureml://...` or `databricks[://PROFILE]`: online; unset: offline |
//! | `MLFLOW_RUN_ID` | online: attach to this run instead of creating one |
//! | `MLFLOW_EXPERIMENT_NAME` | the experiment of a new run (default `Default`) |
//! | `MLFLOW_EXPERIMENT_ID` | online: the experiment of a new run, by id (with a name too, both must name one experiment) |
//! | `RUNCTX_HOME` | the local store (default `./runs`) |
//! | `RUNCTX_OFFLINE` | `1`/`true`: offline whatever the tracking URI says |
//! | `RUNCTX_RUN_ID` | attach to this run of the local store (set by the step launcher) |
//! | `RUNCTX_FLUSH_TIMEOUT` | seconds `flush()` and `complete()` wait for the server at most (60) |
//! | `RUNCTX_EXIT_TIMEOUT` | seconds the end of the program waits for the server at most (30) |
//! | `RUNCTX_STALL_TIMEOUT` | seconds any such wait goes on while the server acknowledges nothing (5) |
//! | `RUNCTX_HANDLE_SIGNALS` | `0`: leave SIGINT and SIGTERM to the program (by default the runs end KILLED) |
//! | `RUNCTX_LAUNCHER_ENDS_RUN` | `1` (set by `runctx run`): the run of `RUNCTX_RUN_ID` is ended by the launcher, from this process's exit status |
//! | `MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING` | `true`: the process's run logs system metrics |
//! | `MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` | seconds between system metrics samples (10) |
//!
//! An empty variable counts as unset. Anything else that cannot be used is an error naming the
//! variable, never a silent fallback to offline.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Where runs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tracking {
    /// Kept in the local store only.
    Offline,
    /// Shipped to an MLflow-compatible server.
    Online(TrackingUri),
}

/// An MLflow-compatible tracking server's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrackingUri {
    /// The `http(s)://` base URL the REST API is under, without a trailing `/`: the URI itself
    /// for an MLflow server, `https://<host>/mlflow/v2.0/<workspace path>` for Azure ML (as
    /// Microsoft's MLflow plugin builds it), the workspace's host for Databricks.
    pub base: String,
    /// Which kind of server it is: its limits, credentials and artifact services.
    pub platform: Platform,
}

/// The kind of tracking server a URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Platform {
    /// An MLflow server (or anything else that speaks its REST API).
    Mlflow,
    /// An Azure ML workspace.
    AzureMl(Workspace),
    /// A Databricks workspace; `profile` is the `~/.databrickscfg` profile the URI named.
    Databricks {
        /// `databricks://<profile>`.
        profile: Option<String>,
    },
}

/// An Azure ML workspace: where its services are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Workspace {
    /// `https://<region>.api.azureml.ms` (the scheme and authority of the URI).
    pub host: String,
    /// `/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<name>`.
    pub path: String,
}

/// The workspace segments of an Azure ML path, after `subscriptions/<id>`: each odd one is
/// literal, each even one a name.
const WORKSPACE_SEGMENTS: [&str; 7] = [
    "subscriptions",
    "",
    "resourceGroups",
    "",
    "providers",
    "Microsoft.MachineLearningServices",
    "workspaces",
];

/// The workspace named by `path` (the path of a tracking URI): its segments from
/// `subscriptions` on, and what comes before them.
fn workspace_path(path: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let at = parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("subscriptions"))?;
    let tail = &parts[at..];
    if tail.len() != WORKSPACE_SEGMENTS.len() + 1 {
        return None;
    }
    for (i, part) in tail.iter().enumerate() {
        let ok = match WORKSPACE_SEGMENTS.get(i) {
            Some(literal) if !literal.is_empty() => part.eq_ignore_ascii_case(literal),
            // Azure resource names: letters, digits and `-_.()`, at most 90.
            _ => {
                part.len() <= 90
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c))
            }
        };
        if !ok {
            return None;
        }
    }
    let names: Vec<&str> = [1, 3, 7].iter().map(|&i| tail[i]).collect();
    let path = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}",
        names[0], names[1], names[2]
    );
    Some((parts[..at].join("/"), path))
}

/// How an `azureml://` URI is written, for errors.
const AZUREML_FORM: &str = "azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/<id>/\
     resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<name> (`az ml \
     workspace show --query mlflow_tracking_uri` prints it)";

impl TrackingUri {
    /// Parses a tracking URI, reading Databricks settings from the process environment; `var`
    /// names where it came from, for the error.
    #[cfg(feature = "mlflow")]
    pub(crate) fn parse(var: &'static str, value: &str) -> Result<Self> {
        Self::parse_with(var, value, &|k| std::env::var(k).ok())
    }

    /// Parses a tracking URI, reading Databricks settings through `get`.
    pub(crate) fn parse_with(
        var: &'static str,
        value: &str,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let bad = |reason: &str| Error::Config {
            var,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if value == "databricks" || value.starts_with("databricks://") {
            let profile = value.strip_prefix("databricks://").map(str::to_owned);
            let config = crate::databricks::resolve(profile.as_deref(), get)
                .map_err(|reason| bad(&reason))?;
            let mut uri = TrackingUri::parse_with(var, &config.host, get)
                .map_err(|e| bad(&format!("the Databricks host {:?}: {e}", config.host)))?;
            uri.platform = Platform::Databricks { profile };
            return Ok(uri);
        }
        let (scheme, rest) = value.split_once("://").ok_or_else(|| {
            bad(
                "not a URI this crate can ship to; use http://host:port or https://host \
                 (or azureml://... in an Azure ML job, databricks for a Databricks workspace), \
                 or unset it to log offline",
            )
        })?;
        let (https, azureml) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (false, false),
            "https" => (true, false),
            "azureml" => (true, true),
            "file" | "sqlite" | "postgresql" | "mysql" | "mssql" => {
                return Err(bad(
                    "local and database stores are not servers; unset it to keep runs in the \
                     local store (RUNCTX_HOME), or point it at an MLflow server: http://host:port",
                ));
            }
            _ => {
                return Err(bad(&format!(
                    "the scheme {scheme:?} is not supported; use http, https, azureml or databricks"
                )));
            }
        };
        // Microsoft's plugin drops the query of an `azureml://` URI (`?` and, from SDK v1,
        // `&is-remote=True`); anywhere else a query is a mistake.
        let rest = match azureml {
            true => rest.split(['?', '#']).next().unwrap_or_default(),
            false => rest,
        };
        let rest = rest.trim_end_matches('/');
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() {
            return Err(bad("the URI has no host; write it as http://host:port"));
        }
        if rest.contains(['?', '#']) || rest.chars().any(char::is_whitespace) {
            return Err(bad(
                "the URI has a query, fragment or white space; give only scheme, host, port and path",
            ));
        }
        if host.contains('@') {
            return Err(bad(
                "credentials in the URI are not accepted; use MLFLOW_TRACKING_USERNAME and \
                 MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN",
            ));
        }
        let port = host
            .rsplit_once(':')
            .filter(|_| !host.ends_with(']'))
            .map(|(_, p)| p);
        if let Some(port) = port.filter(|p| p.parse::<u16>().is_err()) {
            return Err(bad(&format!(
                "the port {port:?} is not a number from 0 to 65535"
            )));
        }
        let origin = format!("{}://{host}", if https { "https" } else { "http" });
        let path = &rest[host.len()..];
        // The plugin's REST base: `/mlflow/v2.0` and the workspace, whatever came before it.
        // An http(s) URI of that form (the base itself) is the same workspace.
        let workspace = workspace_path(path).filter(|(before, _)| {
            azureml || ["mlflow/v1.0", "mlflow/v2.0"].contains(&before.as_str())
        });
        match workspace {
            Some((_, path)) => Ok(TrackingUri {
                base: format!("{origin}/mlflow/v2.0{path}"),
                platform: Platform::AzureMl(Workspace { host: origin, path }),
            }),
            None if azureml => Err(bad(&format!(
                "it names no Azure ML workspace; write it as {AZUREML_FORM}"
            ))),
            None => Ok(TrackingUri {
                base: format!("{origin}{path}"),
                platform: Platform::Mlflow,
            }),
        }
    }

    /// The URI names an Azure ML workspace.
    #[cfg(feature = "mlflow")]
    pub(crate) fn is_azureml(&self) -> bool {
        matches!(self.platform, Platform::AzureMl(_))
    }
}

/// Everything the environment says, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The local store.
    pub home: PathBuf,
    /// The experiment name of a new run; online with only `MLFLOW_EXPERIMENT_ID`, that id
    /// (the name is the server's, and opening a context does not wait for the server).
    pub experiment: String,
    /// `MLFLOW_EXPERIMENT_ID`, online only: the server experiment of a new run.
    pub experiment_id: Option<String>,
    /// Offline or online.
    pub tracking: Tracking,
    /// `MLFLOW_RUN_ID`: attach to this server run.
    pub remote_run_id: Option<String>,
    /// `RUNCTX_RUN_ID`: attach to this local run.
    pub local_run_id: Option<String>,
    /// `RUNCTX_PARENT_RUN_ID`: the parent the run of `RUNCTX_RUN_ID` must have (set by the step
    /// launcher).
    pub parent_run_id: Option<String>,
    /// `MLFLOW_TRACKING_INSECURE_TLS=true`: do not verify the server's certificate.
    pub insecure_tls: bool,
    /// `RUNCTX_MAX_BATCH_METRICS`: most metrics in one batch (default 1000, 250 for Azure ML).
    pub max_batch_metrics: Option<usize>,
    /// `RUNCTX_SHIP_CONCURRENCY`: batches in flight at once (default 4).
    pub ship_concurrency: usize,
    /// `RUNCTX_FLUSH_TIMEOUT`: seconds `flush()` waits for the server (default 60).
    pub flush_timeout: Duration,
    /// `RUNCTX_EXIT_TIMEOUT`: seconds the exit handler waits for the server (default 30).
    pub exit_timeout: Duration,
    /// `RUNCTX_STALL_TIMEOUT`: seconds a wait for the server goes on while it acknowledges
    /// nothing (default 5).
    pub stall_timeout: Duration,
    /// `RUNCTX_HANDLE_SIGNALS`: end the runs KILLED on SIGINT and SIGTERM (default on).
    pub handle_signals: bool,
    /// `RUNCTX_LAUNCHER_ENDS_RUN`: the process logs to the run of `RUNCTX_RUN_ID` but leaves
    /// its end to the launcher (`runctx run`), which ends it from the exit status.
    pub launcher_ends_run: bool,
    /// `MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING`: the interval the process's run samples system
    /// metrics at (`MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`, else 10 s); `None`: off.
    pub system_metrics: Option<Duration>,
}

impl Settings {
    /// Reads the process environment.
    pub(crate) fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get`, which returns a variable's value.
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |k: &str| get(k).filter(|v| !v.is_empty());
        let offline = match var("RUNCTX_OFFLINE") {
            None => false,
            Some(v) => parse_flag("RUNCTX_OFFLINE", &v)?,
        };
        let run_id = |name: &'static str| -> Result<Option<String>> {
            let Some(id) = var(name) else { return Ok(None) };
            // A run id becomes a folder name in the store: it must be one plain path component.
            crate::store::check_run_id(&id).map_err(|e| Error::Config {
                var: name,
                value: id.clone(),
                reason: e.to_string(),
            })?;
            Ok(Some(id))
        };
        let remote_run_id = run_id("MLFLOW_RUN_ID")?;
        let tracking = match var("MLFLOW_TRACKING_URI") {
            Some(uri) if !offline => Tracking::Online(TrackingUri::parse_with(
                "MLFLOW_TRACKING_URI",
                uri.trim(),
                &get,
            )?),
            _ => Tracking::Offline,
        };
        if let (Tracking::Offline, Some(id), false) = (&tracking, &remote_run_id, offline) {
            return Err(Error::Config {
                var: "MLFLOW_RUN_ID",
                value: id.clone(),
                reason: "it names a server run, but MLFLOW_TRACKING_URI is not set; set the \
                         tracking URI to log to that run, unset MLFLOW_RUN_ID, or set \
                         RUNCTX_OFFLINE=1 to log offline anyway"
                    .into(),
            });
        }
        let home = match var("RUNCTX_HOME") {
            Some(h) => PathBuf::from(h),
            None => PathBuf::from("runs"),
        };
        let home = if home.is_absolute() {
            home
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("find", "the working directory", e))?
                .join(home)
        };
        if home.is_file() {
            return Err(Error::Config {
                var: "RUNCTX_HOME",
                value: home.display().to_string(),
                reason: "it is a file; the store must be a folder".into(),
            });
        }
        let experiment_id = experiment_id(var("MLFLOW_EXPERIMENT_ID"), &tracking, offline)?;
        let name = var("MLFLOW_EXPERIMENT_NAME");
        if let Some(name) = &name {
            crate::validate::check_run_name(name).map_err(|e| Error::Config {
                var: "MLFLOW_EXPERIMENT_NAME",
                value: name.clone(),
                reason: e.to_string(),
            })?;
        }
        let experiment = name
            .or_else(|| experiment_id.clone())
            .unwrap_or_else(|| "Default".to_owned());
        let insecure_tls = match var("MLFLOW_TRACKING_INSECURE_TLS") {
            None => false,
            Some(v) => parse_flag("MLFLOW_TRACKING_INSECURE_TLS", &v)?,
        };
        let number =
            |name: &'static str, range: std::ops::RangeInclusive<u64>| -> Result<Option<u64>> {
                let Some(v) = var(name) else { return Ok(None) };
                match v.trim().parse::<u64>() {
                    Ok(n) if range.contains(&n) => Ok(Some(n)),
                    _ => Err(Error::Config {
                        var: name,
                        value: v,
                        reason: format!(
                            "use a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    }),
                }
            };
        Ok(Settings {
            home,
            experiment,
            experiment_id,
            tracking,
            remote_run_id,
            local_run_id: run_id("RUNCTX_RUN_ID")?,
            parent_run_id: run_id("RUNCTX_PARENT_RUN_ID")?,
            insecure_tls,
            max_batch_metrics: number("RUNCTX_MAX_BATCH_METRICS", 1..=1000)?.map(|n| n as usize),
            ship_concurrency: number("RUNCTX_SHIP_CONCURRENCY", 1..=64)?.unwrap_or(4) as usize,
            flush_timeout: Duration::from_secs(
                number("RUNCTX_FLUSH_TIMEOUT", 0..=86_400)?.unwrap_or(60),
            ),
            exit_timeout: Duration::from_secs(
                number("RUNCTX_EXIT_TIMEOUT", 0..=86_400)?.unwrap_or(30),
            ),
            stall_timeout: Duration::from_secs(
                number("RUNCTX_STALL_TIMEOUT", 0..=86_400)?.unwrap_or(5),
            ),
            handle_signals: match var("RUNCTX_HANDLE_SIGNALS") {
                None => true,
                Some(v) => parse_flag("RUNCTX_HANDLE_SIGNALS", &v)?,
            },
            launcher_ends_run: match var("RUNCTX_LAUNCHER_ENDS_RUN") {
                None => false,
                Some(v) => parse_flag("RUNCTX_LAUNCHER_ENDS_RUN", &v)?,
            },
            system_metrics: system_metrics(
                var("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"),
                var("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"),
            )?,
        })
    }

    /// The settings of an empty environment.
    pub(crate) fn defaults() -> Self {
        Self::from_lookup(|_| None).unwrap_or_else(|_| Settings {
            home: PathBuf::from("runs"),
            experiment: "Default".into(),
            experiment_id: None,
            tracking: Tracking::Offline,
            remote_run_id: None,
            local_run_id: None,
            parent_run_id: None,
            insecure_tls: false,
            max_batch_metrics: None,
            ship_concurrency: 4,
            flush_timeout: Duration::from_secs(60),
            exit_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(5),
            handle_signals: true,
            launcher_ends_run: false,
            system_metrics: None,
        })
    }
}

/// Longest experiment id accepted.
const MAX_EXPERIMENT_ID_CHARS: usize = 250;

/// `MLFLOW_EXPERIMENT_ID`, checked: a server's experiment id (MLflow's are numbers, Azure ML's
/// GUIDs), so it is used online only. Set without a tracking URI it is an error, as
/// `MLFLOW_RUN_ID` is; with `RUNCTX_OFFLINE` it is ignored.
fn experiment_id(
    value: Option<String>,
    tracking: &Tracking,
    offline: bool,
) -> Result<Option<String>> {
    let Some(id) = value else { return Ok(None) };
    let bad = |reason: &str| Error::Config {
        var: "MLFLOW_EXPERIMENT_ID",
        value: id.clone(),
        reason: reason.to_owned(),
    };
    if id.chars().count() > MAX_EXPERIMENT_ID_CHARS
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(bad(
            "an experiment id is 1 to 250 letters, digits, '-' and '_' (MLflow's are numbers, \
             Azure ML's GUIDs); to choose the experiment by name, use MLFLOW_EXPERIMENT_NAME",
        ));
    }
    match (tracking, offline) {
        (Tracking::Online(_), _) => Ok(Some(id)),
        (Tracking::Offline, true) => Ok(None),
        (Tracking::Offline, false) => Err(bad(
            "it names an experiment of a tracking server, but MLFLOW_TRACKING_URI is not set; \
             set the tracking URI to log there, unset MLFLOW_EXPERIMENT_ID (MLFLOW_EXPERIMENT_NAME \
             names the experiment of an offline run), or set RUNCTX_OFFLINE=1 to log offline \
             anyway",
        )),
    }
}

/// MLflow's switch and interval of system metrics, checked.
fn system_metrics(enable: Option<String>, interval: Option<String>) -> Result<Option<Duration>> {
    const INTERVAL: &str = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL";
    let on = match enable {
        None => false,
        Some(v) => parse_flag("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", &v)?,
    };
    let interval = match interval {
        None => crate::system_metrics::DEFAULT_INTERVAL,
        Some(v) => {
            let bad = |reason: String| Error::Config {
                var: INTERVAL,
                value: v.clone(),
                reason,
            };
            let seconds: f64 = v.trim().parse().map_err(|_| {
                bad("use a number of seconds, such as 10 or 0.5 (MLflow's default is 10)".into())
            })?;
            let interval = Duration::try_from_secs_f64(seconds)
                .map_err(|_| bad("use a positive number of seconds".into()))?;
            crate::system_metrics::check_interval(INTERVAL, interval).map_err(|_| {
                bad(
                    "a sampling interval is from 100 ms to a day (0.1 to 86400 seconds); \
                     MLflow's default is 10"
                        .into(),
                )
            })?
        }
    };
    Ok(on.then_some(interval))
}

fn parse_flag(var: &'static str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Config {
            var,
            value: value.to_owned(),
            reason: "use 1, true, yes or on to turn it on; 0, false, no or off to turn it off"
                .into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings> {
        Settings::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn no_environment_is_offline_in_runs_with_the_default_experiment() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.tracking, Tracking::Offline);
        assert_eq!(s.experiment, "Default");
        assert!(s.home.is_absolute() && s.home.ends_with("runs"));
    }

    #[test]
    fn experiment_and_home_come_from_the_environment() {
        let s = settings(&[
            ("MLFLOW_EXPERIMENT_NAME", "iris"),
            ("RUNCTX_HOME", "/tmp/store"),
        ])
        .unwrap();
        assert_eq!(s.experiment, "iris");
        assert_eq!(s.home, PathBuf::from("/tmp/store"));
        // Empty means unset.
        assert_eq!(
            settings(&[("MLFLOW_EXPERIMENT_NAME", "")])
                .unwrap()
                .experiment,
            "Default"
        );
    }

    #[test]
    fn online_uris() {
        let s = settings(&[("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000/")]).unwrap();
        assert_eq!(
            s.tracking,
            Tracking::Online(TrackingUri {
                base: "http://127.0.0.1:5000".into(),
                platform: Platform::Mlflow,
            })
        );
    }

    const WS: &str = "/subscriptions/0b5e6f7a-1c2d/resourceGroups/rg-1/providers/\
                      Microsoft.MachineLearningServices/workspaces/ws.one";

    #[test]
    fn an_azureml_uri_is_the_plugins_rest_base_v2_without_the_query() {
        let workspace = Workspace {
            host: "https://eastus2.api.azureml.ms".into(),
            path: WS.into(),
        };
        let want = TrackingUri {
            base: format!("https://eastus2.api.azureml.ms/mlflow/v2.0{WS}"),
            platform: Platform::AzureMl(workspace),
        };
        for uri in [
            format!("azureml://eastus2.api.azureml.ms/mlflow/v1.0{WS}"),
            format!("azureml://eastus2.api.azureml.ms/mlflow/v1.0{WS}?"),
            format!("azureml://eastus2.api.azureml.ms/mlflow/v1.0{WS}?&is-remote=True"),
            format!("azureml://eastus2.api.azureml.ms/mlflow/v2.0{WS}/"),
            // The REST base itself, as https.
            format!("https://eastus2.api.azureml.ms/mlflow/v2.0{WS}"),
            format!("https://eastus2.api.azureml.ms/mlflow/v1.0{WS}"),
        ] {
            let s = settings(&[("MLFLOW_TRACKING_URI", &uri)]).unwrap();
            assert_eq!(s.tracking, Tracking::Online(want.clone()), "{uri}");
        }
        // Another https path with the same segments is an MLflow server's.
        let other = format!("https://gateway.example.com/tracking{WS}");
        let s = settings(&[("MLFLOW_TRACKING_URI", &other)]).unwrap();
        assert!(matches!(
            s.tracking,
            Tracking::Online(TrackingUri {
                platform: Platform::Mlflow,
                ..
            })
        ));
        for bad in [
            "azureml://eastus2.api.azureml.ms/mlflow/v1.0/subscriptions/x",
            "azureml://eastus2.api.azureml.ms/mlflow/v1.0/subscriptions/x/resourceGroups/r/\
             providers/Microsoft.MachineLearningServices/workspaces/w/extra",
            "azureml://eastus2.api.azureml.ms/mlflow/v1.0/subscriptions/a*b/resourceGroups/r/\
             providers/Microsoft.MachineLearningServices/workspaces/w",
        ] {
            let e = settings(&[("MLFLOW_TRACKING_URI", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("it names no Azure ML workspace; write it as azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/<id>/resourceGroups/"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_databricks_uri_is_its_workspace_host() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cfg");
        std::fs::write(
            &cfg,
            "[prod]\nhost = https://prod.cloud.databricks.com/\ntoken = dapi1\n",
        )
        .unwrap();
        let cfg = cfg.to_str().unwrap();
        let s = settings(&[
            ("MLFLOW_TRACKING_URI", "databricks://prod"),
            ("DATABRICKS_CONFIG_FILE", cfg),
        ])
        .unwrap();
        assert_eq!(
            s.tracking,
            Tracking::Online(TrackingUri {
                base: "https://prod.cloud.databricks.com".into(),
                platform: Platform::Databricks {
                    profile: Some("prod".into())
                },
            })
        );
        let s = settings(&[
            ("MLFLOW_TRACKING_URI", "databricks"),
            ("DATABRICKS_HOST", "adb-1.azuredatabricks.net"),
            ("DATABRICKS_TOKEN", "dapi2"),
        ])
        .unwrap();
        assert_eq!(
            s.tracking,
            Tracking::Online(TrackingUri {
                base: "https://adb-1.azuredatabricks.net".into(),
                platform: Platform::Databricks { profile: None },
            })
        );
        let e = settings(&[
            ("MLFLOW_TRACKING_URI", "databricks"),
            ("DATABRICKS_HOST", "ftp://h"),
            ("DATABRICKS_TOKEN", "dapi2"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "MLFLOW_TRACKING_URI=\"databricks\" is invalid: the Databricks host \"ftp://h\""
            ),
            "{e}"
        );
    }

    #[test]
    fn system_metrics_are_on_with_mlflows_switch_at_its_interval() {
        let on = |vars: &[(&str, &str)]| settings(vars).map(|s| s.system_metrics);
        assert_eq!(on(&[]).unwrap(), None);
        assert_eq!(
            on(&[("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")]).unwrap(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            on(&[
                ("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true"),
                ("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5"),
            ])
            .unwrap(),
            Some(Duration::from_millis(500))
        );
        for bad in ["ten", "-1", "0", "1e9"] {
            let e = on(&[
                ("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "1"),
                ("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", bad),
            ])
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL") && e.contains(bad),
                "{e}"
            );
        }
    }

    #[test]
    fn offline_flag_wins_over_the_uri() {
        let s = settings(&[
            ("MLFLOW_TRACKING_URI", "http://h:1"),
            ("RUNCTX_OFFLINE", "1"),
        ])
        .unwrap();
        assert_eq!(s.tracking, Tracking::Offline);
        let s = settings(&[
            ("MLFLOW_TRACKING_URI", "nonsense"),
            ("RUNCTX_OFFLINE", "true"),
        ])
        .unwrap();
        assert_eq!(s.tracking, Tracking::Offline);
    }

    #[test]
    fn malformed_configuration_is_an_error_naming_the_variable() {
        let cases = [
            (
                vec![("MLFLOW_TRACKING_URI", "ftp://h")],
                "MLFLOW_TRACKING_URI=\"ftp://h\" is invalid: the scheme \"ftp\"",
            ),
            (vec![("MLFLOW_TRACKING_URI", "localhost:5000")], "not a URI"),
            (vec![("MLFLOW_TRACKING_URI", "http://")], "no host"),
            (
                vec![("MLFLOW_TRACKING_URI", "http://h:99999")],
                "port \"99999\"",
            ),
            (vec![("MLFLOW_TRACKING_URI", "http://u:p@h")], "credentials"),
            (
                vec![("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")],
                "local and database stores",
            ),
            (
                vec![("MLFLOW_TRACKING_URI", "databricks")],
                "no Databricks host",
            ),
            (
                vec![("RUNCTX_OFFLINE", "maybe")],
                "RUNCTX_OFFLINE=\"maybe\" is invalid",
            ),
            (
                vec![("MLFLOW_RUN_ID", "abc")],
                "MLFLOW_TRACKING_URI is not set",
            ),
            (
                vec![("MLFLOW_EXPERIMENT_NAME", "a\nb")],
                "MLFLOW_EXPERIMENT_NAME",
            ),
            (
                vec![("RUNCTX_MAX_BATCH_METRICS", "5000")],
                "RUNCTX_MAX_BATCH_METRICS=\"5000\" is invalid: use a whole number from 1 to 1000",
            ),
            (
                vec![("RUNCTX_SHIP_CONCURRENCY", "0")],
                "RUNCTX_SHIP_CONCURRENCY",
            ),
            (
                vec![("RUNCTX_FLUSH_TIMEOUT", "soon")],
                "RUNCTX_FLUSH_TIMEOUT",
            ),
            (
                vec![("MLFLOW_TRACKING_INSECURE_TLS", "sure")],
                "MLFLOW_TRACKING_INSECURE_TLS",
            ),
            (
                vec![("RUNCTX_RUN_ID", "a/../../etc")],
                "RUNCTX_RUN_ID=\"a/../../etc\" is invalid: invalid run id \"a/../../etc\": the \
                 character '/' is not allowed",
            ),
            (
                vec![("RUNCTX_PARENT_RUN_ID", "/abs")],
                "RUNCTX_PARENT_RUN_ID=\"/abs\" is invalid",
            ),
            (
                vec![
                    ("MLFLOW_TRACKING_URI", "http://h:1"),
                    ("MLFLOW_RUN_ID", ".."),
                ],
                "MLFLOW_RUN_ID=\"..\" is invalid: invalid run id \"..\": it starts with '.'",
            ),
        ];
        for (vars, want) in cases {
            let err = settings(&vars).unwrap_err().to_string();
            assert!(err.contains(want), "{vars:?}: {err}");
        }
    }

    #[test]
    fn an_experiment_id_is_used_online_and_is_the_experiment_without_a_name() {
        let uri = ("MLFLOW_TRACKING_URI", "http://h:1");
        let s = settings(&[uri, ("MLFLOW_EXPERIMENT_ID", "42")]).unwrap();
        assert_eq!(
            (s.experiment.as_str(), s.experiment_id.as_deref()),
            ("42", Some("42"))
        );
        let s = settings(&[
            uri,
            ("MLFLOW_EXPERIMENT_ID", "42"),
            ("MLFLOW_EXPERIMENT_NAME", "iris"),
        ])
        .unwrap();
        assert_eq!(
            (s.experiment.as_str(), s.experiment_id.as_deref()),
            ("iris", Some("42"))
        );
        // An Azure ML experiment id is a GUID.
        let guid = "0b5e6f7a-1c2d-4e3f-8a9b-0c1d2e3f4a5b";
        let s = settings(&[uri, ("MLFLOW_EXPERIMENT_ID", guid)]).unwrap();
        assert_eq!(s.experiment_id.as_deref(), Some(guid));
        // Forced offline, it means nothing: the run goes to the name, or Default.
        let s = settings(&[("MLFLOW_EXPERIMENT_ID", "42"), ("RUNCTX_OFFLINE", "1")]).unwrap();
        assert_eq!(
            (s.experiment.as_str(), s.experiment_id.as_deref()),
            ("Default", None)
        );
    }

    #[test]
    fn a_bad_or_offline_experiment_id_is_an_error_naming_it() {
        let uri = ("MLFLOW_TRACKING_URI", "http://h:1");
        for bad in ["4 2", "../1", "x".repeat(251).as_str(), "42\n"] {
            let e = settings(&[uri, ("MLFLOW_EXPERIMENT_ID", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!(
                    "MLFLOW_EXPERIMENT_ID={bad:?} is invalid: an experiment id is 1 to 250"
                )),
                "{e}"
            );
        }
        let e = settings(&[("MLFLOW_EXPERIMENT_ID", "42")])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("MLFLOW_EXPERIMENT_ID=\"42\" is invalid: it names an experiment of a tracking server, but MLFLOW_TRACKING_URI is not set"),
            "{e}"
        );
    }

    #[test]
    fn a_file_as_home_is_an_error() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let path = f.path().to_str().unwrap();
        let err = settings(&[("RUNCTX_HOME", path)]).unwrap_err().to_string();
        assert!(err.contains("it is a file"), "{err}");
    }
}
