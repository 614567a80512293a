#!/usr/bin/env python3
"""Checks Azure ML job files the way `az ml job create` does before it sends them, offline.

    python scripts/azureml-validate.py iris-azureml/pipeline.yml [more.yml ...]

Needs azure-ai-ml (tests/requirements-servers.txt pins the version the tests use). For each
file it runs what `JobOperations.create_or_update` runs before submission, minus what needs a
workspace (resolving compute ids, uploading code and data):

1. `load_job(source=file)`: the job type's schema (unknown or missing fields, wrong types);
2. `job._validate()`: the job's own checks (a pipeline step without compute: "Compute not set",
   inputs the command does not use, bindings to missing jobs, ...);
3. `to_rest_job_object(job)`: the request body the service would receive.

Prints each file's verdict on standard error, then one line of JSON on standard output:
[{"file": ..., "passed": true|false, "errors": ["<yaml path>: <message>", ...]}, ...].
Exits with 1 when a file fails, 2 when azure-ai-ml is missing.
"""

import json
import logging
import sys
import warnings


def validate(path):
    """The validation messages of the job file at `path`: empty when it passes."""
    from azure.ai.ml import load_job
    from azure.ai.ml.entities._job.to_rest_functions import to_rest_job_object
    from azure.ai.ml.entities._validation import PathAwareSchemaValidatableMixin

    try:
        job = load_job(source=path)
    except Exception as e:  # the loader's schema errors are ValidationError or ValidationException
        return [f"load_job: {e}"]
    if isinstance(job, PathAwareSchemaValidatableMixin):
        result = job._validate(raise_error=False)
        if not result.passed:
            return [f"{where}: {message}" for where, message in result.error_messages.items()]
    try:
        to_rest_job_object(job)
    except Exception as e:
        return [f"to_rest_job_object: {type(e).__name__}: {e}"]
    return []


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import azure.ai.ml  # noqa: F401
    except ImportError:
        print("azure-ai-ml is not installed: pip install -r tests/requirements-servers.txt",
              file=sys.stderr)
        return 2
    # The SDK announces its experimental classes on every load; only the verdicts matter here.
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    verdicts = []
    for path in paths:
        errors = validate(path)
        verdicts.append({"file": path, "passed": not errors, "errors": errors})
        print(f"{path}: {'passed' if not errors else 'FAILED'}", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
    print(json.dumps(verdicts))
    return 0 if all(v["passed"] for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
