#!/usr/bin/env python3
"""Load on a tracking server from MLflow's Python client, to set beside our Rust client's.

N processes at once, each creating a run and logging M metric points (`log_batch`, 1000 a
call), T tags (one `log_batch`) and one file of S MB (`log_artifact`), then ending the run.
Prints one JSON line: {"seconds", "points_per_second", ...}.

The clock starts when every process has imported mlflow and created its run (a barrier) and
stops when the last one has ended its run: interpreter start-up is not counted
(`startup_seconds` says what it cost). Run it with the MLflow venv's Python; for a server
with `--no-serve-artifacts`, put the artifact store's variables (the harness's
`MlflowServer::client_env()`) in its environment:

    .venv/mlflow/bin/python scripts/bench-python-load.py --tracking-uri http://127.0.0.1:5000 \
        --processes 16 --metrics 20000 --file-mb 20
"""

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time

BATCH = 1000  # MLflow's limit of metrics in one log_batch
WAIT = 600  # seconds any process waits for the others at the barrier


def log_run(index, args, experiment_id, path, barrier):
    """One process: a run, its points, tags and file, after the barrier."""
    try:
        import mlflow
        from mlflow.entities import Metric, RunTag

        client = mlflow.MlflowClient(args.tracking_uri)
        run_id = client.create_run(experiment_id, run_name=f"load-{index}").info.run_id
        barrier.wait(WAIT)
        now = int(time.time() * 1000)
        for start in range(0, args.metrics, BATCH):
            steps = range(start, min(args.metrics, start + BATCH))
            client.log_batch(run_id, metrics=[Metric("loss", 1.0 / (s + 1), now, s) for s in steps])
        tags = [RunTag(f"tag{k}", f"value {k} of process {index}") for k in range(args.tags)]
        client.log_batch(run_id, tags=tags)
        if path:
            client.log_artifact(run_id, path)
        client.set_terminated(run_id)
    except BaseException:
        barrier.abort()  # the others must not wait for this one
        raise


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--metrics", type=int, default=20000, help="points per process")
    parser.add_argument("--tags", type=int, default=20, help="tags per process")
    parser.add_argument("--file-mb", type=float, default=20, help="MB of the file per process (0: none)")
    parser.add_argument("--experiment", default=f"python-load-{int(time.time())}")
    args = parser.parse_args()
    if not args.tracking_uri:
        sys.exit("give --tracking-uri (or set MLFLOW_TRACKING_URI): the server to load")

    import mlflow

    started = time.monotonic()
    experiment_id = mlflow.MlflowClient(args.tracking_uri).create_experiment(args.experiment)
    with tempfile.TemporaryDirectory() as folder:
        path = None
        if args.file_mb > 0:
            path = os.path.join(folder, "data.bin")
            with open(path, "wb") as f:
                f.write(os.urandom(int(args.file_mb * 1e6)))
        # spawn: each process a fresh interpreter, sharing no connection with this one.
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(args.processes + 1)
        processes = [
            context.Process(target=log_run, args=(i, args, experiment_id, path, barrier))
            for i in range(args.processes)
        ]
        for p in processes:
            p.start()
        barrier.wait(WAIT)
        clock = time.monotonic()
        for p in processes:
            p.join(WAIT)
        seconds = time.monotonic() - clock
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        sys.exit(f"{len(failed)} of {args.processes} processes failed (exit codes {failed})")
    points = args.processes * args.metrics
    print(json.dumps({
        "processes": args.processes,
        "metrics_per_process": args.metrics,
        "tags_per_process": args.tags,
        "file_mb": args.file_mb,
        "startup_seconds": round(clock - started, 3),
        "seconds": round(seconds, 3),
        "points_per_second": round(points / seconds, 1),
    }))


if __name__ == "__main__":
    main()
