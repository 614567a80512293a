//! The load of the production-server load test and benchmark: programs at once, each logging
//! points of metric `m`, 20 tags and one file to a tracking server (the `shipping load`
//! program); then the check, through MLflow's Python client and the artifact store's own
//! listing, that every point, tag and file arrived exactly once.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

use crate::mlflow::MlflowServer;
use crate::{command, last_json};

/// Checks, through the Python client, each run's metric `m` (steps 0..n, value = step, each
/// step once), its tags `t0`..`t19`, and its artifacts' sizes.
const CHECK: &str = r#"
out = {}
for run_id in args[1:]:
    points = client.get_metric_history(run_id, "m")
    steps = sorted(p.step for p in points)
    run = client.get_run(run_id)
    tags = {k: v for k, v in run.data.tags.items() if k.startswith("t") and k[1:].isdigit()}
    files = {f.path: f.file_size for f in client.list_artifacts(run_id)}
    out[run_id] = {
        "points": len(points),
        "distinct_steps": len(set(steps)),
        "steps_ok": steps == list(range(int(args[0]))),
        "values_ok": all(p.value == float(p.step) for p in points),
        "tags": len(tags),
        "tags_ok": all(tags.get(f"t{i}") == f"value {i}" for i in range(20)),
        "files": files,
    }
print(json.dumps(out))
"#;

/// Runs `programs` copies of `shipping` (the path of the `shipping` program) at once against
/// `server`, each with its store under `dir`, logging `points` points, 20 tags and `file`;
/// returns the seconds from the first start to the last exit and the server's run ids. Panics
/// if a program fails or reports an error.
pub fn run_load(
    server: &MlflowServer,
    shipping: &Path,
    dir: &Path,
    programs: usize,
    points: usize,
    file: &Path,
) -> (f64, Vec<String>) {
    let started = Instant::now();
    let children: Vec<Child> = (0..programs)
        .map(|i| {
            command(shipping, &dir.join(format!("runs{i}")))
                .env("MLFLOW_TRACKING_URI", &server.uri)
                .env("MLFLOW_EXPERIMENT_NAME", "load")
                // Many programs share a server of 4 workers on (here) 2 cores: `complete()`
                // may wait longer than the default minute for its share.
                .env("RUNCTX_FLUSH_TIMEOUT", "900")
                .envs(server.client_env())
                .args(["load", &points.to_string()])
                .arg(file)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start the shipping program")
        })
        .collect();
    let reports: Vec<Value> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{stderr}");
            last_json(&out.stdout)
        })
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    let remotes = reports
        .iter()
        .map(|r| {
            assert!(r["error"].is_null(), "{r}");
            assert_eq!(r["refused"], json!([]), "{r}");
            r["remote_id"].as_str().unwrap().to_owned()
        })
        .collect();
    (seconds, remotes)
}

/// Checks that each run of `remotes` has exactly `points` points (each step once, value =
/// step), the 20 tags, and one artifact `data.bin` of `file_bytes` bytes, as the Python client
/// reads them and as the artifact store lists them.
pub fn check_load(server: &MlflowServer, remotes: &[String], points: usize, file_bytes: usize) {
    let mut args = vec![points.to_string()];
    args.extend(remotes.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let seen = server.python(CHECK, &args);
    for remote in remotes {
        let run = &seen[remote];
        assert_eq!(run["points"], points, "{remote}: {run}");
        assert_eq!(run["distinct_steps"], points, "{remote}: {run}");
        assert_eq!(run["steps_ok"], true, "{remote}: {run}");
        assert_eq!(run["values_ok"], true, "{remote}: {run}");
        assert_eq!(run["tags"], 20, "{remote}: {run}");
        assert_eq!(run["tags_ok"], true, "{remote}: {run}");
        assert_eq!(
            run["files"],
            json!({"data.bin": file_bytes}),
            "{remote}: {run}"
        );
        // Exactly once in the store too: one object under the run, of the file's size.
        assert_eq!(
            server.stored_objects(remote),
            vec![("data.bin".to_owned(), file_bytes as u64)],
            "{remote}"
        );
    }
}

/// A file of `len` bytes for the load, written at `path`; its bytes.
pub fn load_file(path: &Path, len: usize) -> Vec<u8> {
    let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(path, &bytes).unwrap();
    bytes
}
