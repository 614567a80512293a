#!/usr/bin/env python3
"""Shipping throughput against one MLflow server, side by side in one run.

Starts MLflow (the venv of the test harness: .venv/mlflow, made by scripts/test.sh) on a free
loopback port with a fresh sqlite store (or the --backend-store-uri given), then, REPEATS times in alternation:
  - the Python client's mlflow.log_metric, one call each (2,000 calls);
  - MlflowClient().log_batch in batches of 1,000 (N metrics);
  - raw HTTP runs/log-batch, 1,000 a request, one keep-alive connection (the server's ceiling);
  - this crate: N metrics with run.log, then flush() until the server has them all.
Then once: run.log with the server down (a port nothing listens on).
Prints a markdown table of medians.

Usage: scripts/bench-mlflow.py [--workers 1] [--n 100000] [--repeats 3] [--backend-store-uri URI]
"""
import argparse, json, os, socket, statistics, subprocess, sys, tempfile, time, urllib.request, http.client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("MLFLOW_VENV", os.path.join(ROOT, ".venv", "mlflow"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers, data, backend):
    port = free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    proc = subprocess.Popen(
        [os.path.join(VENV, "bin", "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--backend-store-uri", backend or f"sqlite:///{data}/mlflow.db",
         "--artifacts-destination", f"{data}/artifacts"],
        stdout=open(f"{data}/server.log", "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if urllib.request.urlopen(uri + "/health", timeout=2).read() == b"OK":
                return proc, uri
        except OSError:
            time.sleep(0.5)
    sys.exit("the server did not start: see " + data + "/server.log")


def python_client(uri, n):
    code = f"""
import time, mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
mlflow.set_tracking_uri({uri!r})
mlflow.set_experiment("python-bench")
with mlflow.start_run() as run:
    t = time.time()
    for i in range(2000):
        mlflow.log_metric("one_by_one", float(i), step=i)
    one = 2000 / (time.time() - t)
    client = MlflowClient()
    now = int(time.time() * 1000)
    t = time.time()
    for start in range(0, {n}, 1000):
        client.log_batch(run.info.run_id, metrics=[Metric("batch", float(i), now, i) for i in range(start, min(start + 1000, {n}))])
    batch = {n} / (time.time() - t)
print(one, batch)
"""
    out = subprocess.run([os.path.join(VENV, "bin", "python"), "-c", code], capture_output=True, text=True, check=True)
    one, batch = map(float, out.stdout.split()[-2:])
    return one, batch


def raw_http(uri, n):
    host, port = uri.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    def call(path, body):
        conn.request("POST", "/api/2.0/mlflow/" + path, json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        assert r.status == 200, data
        return json.loads(data or b"{}")
    exp = call("experiments/create", {"name": f"raw-{time.time()}"})["experiment_id"]
    run = call("runs/create", {"experiment_id": exp, "start_time": int(time.time() * 1000)})["run"]["info"]["run_id"]
    now = int(time.time() * 1000)
    t = time.time()
    for start in range(0, n, 1000):
        call("runs/log-batch", {"run_id": run, "metrics": [{"key": "raw", "value": float(i), "timestamp": now, "step": i} for i in range(start, min(start + 1000, n))]})
    return n / (time.time() - t)


def build_rust():
    """Builds this crate's side once and returns its executable: the rounds run that file, so
    an edit of the workspace during a run neither rebuilds nor breaks it."""
    out = subprocess.run(
        ["cargo", "bench", "-q", "-p", "run-runtime", "--bench", "ship_throughput", "--no-run",
         "--message-format=json"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "ship_throughput" \
                and message.get("executable"):
            return message["executable"]
    sys.exit("cargo built no ship_throughput executable")


def rust(program, uri, n, down=False):
    args = [program, uri, str(n)] + (["down"] if down else [])
    with tempfile.TemporaryDirectory() as home:
        out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True, env=dict(os.environ, RUNCTX_HOME=home))
    return json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backend-store-uri", default=None,
                   help="the server's backend store (default: sqlite in a temporary folder), "
                        "e.g. postgresql://mlflow@127.0.0.1:PORT/DB (psycopg in the venv)")
    a = p.parse_args()
    program = build_rust()
    data = tempfile.mkdtemp(prefix="bench-mlflow-")
    proc, uri = start_server(a.workers, data, a.backend_store_uri)
    rows = {"one": [], "batch": [], "raw": [], "rust": [], "rust_log_ns": []}
    try:
        for _ in range(a.repeats):
            one, batch = python_client(uri, a.n)
            rows["one"].append(one)
            rows["batch"].append(batch)
            rows["raw"].append(raw_http(uri, a.n))
            r = rust(program, uri, a.n)
            rows["rust"].append(r["per_s"])
            rows["rust_log_ns"].append(r["log_ns_median"])
        down = rust(program, f"http://127.0.0.1:{free_port()}", a.n, down=True)
    finally:
        os.killpg(proc.pid, 15)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"MLflow 3.17.2, --workers {a.workers}, {a.n} metrics, median of {a.repeats} alternating runs\n")
    print("| client | metrics/s | vs Python log_batch |")
    print("| --- | ---: | ---: |")
    print(f"| Python `mlflow.log_metric`, one call each | {med['one']:,.0f} | {med['one'] / med['batch']:.2f}x |")
    print(f"| Python `MlflowClient().log_batch`, 1000 a batch | {med['batch']:,.0f} | 1.00x |")
    print(f"| raw HTTP log-batch, 1000 a request, 1 connection | {med['raw']:,.0f} | {med['raw'] / med['batch']:.2f}x |")
    print(f"| run-runtime, `run.log` then `flush()` until shipped | {med['rust']:,.0f} | {med['rust'] / med['batch']:.2f}x |")
    print(f"\n`run.log` on the caller's thread, median: {med['rust_log_ns']:.1f} ns while shipping, "
          f"{down['log_ns_median']:.1f} ns with the server down")
    print("\nall runs:", json.dumps(rows))


if __name__ == "__main__":
    main()
