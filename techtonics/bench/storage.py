"""Object storage: the input pipeline reading the same records from a local S3 server and from local disk.

The records of datasets.converted_records are uploaded byte for byte to
moto's S3 server on 127.0.0.1 (local_s3.py), and the training input
pipeline's steady rate is measured on each in its own process (tensorflow-io
is loaded only where S3 is read). Loopback has no network latency or
bandwidth limit, so the ratio measures the S3 client's own cost (HTTP,
request signing, multi-part reads), not a real bucket's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from techtonics import errors, records
from techtonics.bench import datasets, local_s3
from techtonics.bench.report import Row

_RESULT = "result"


def _rate(records_dir: str, batch_size: int, env: dict) -> float:
    command = [sys.executable, "-m", "techtonics.bench.storage", records_dir, str(batch_size)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.rsplit(f"{_RESULT} ", 1)[1])["examples_per_second"]


def run(workdir: str, traces: int, batch_size: int) -> list[Row]:
    """The pipeline's examples/s from S3 against local disk, on the records of `traces` generated traces."""
    local = datasets.converted_records(workdir, traces)
    with local_s3.Server() as s3:
        for name in os.listdir(local):
            if name.endswith(".tfrecord") or name == records.MANIFEST_NAME:
                s3.client.upload_file(os.path.join(local, name), s3.bucket, f"records/{name}")
        remote = _rate(f"s3://{s3.bucket}/records", batch_size, s3.env)
    disk = _rate(local, batch_size, dict(os.environ))
    return [
        Row("storage.local", f"input pipeline, {traces:,} traces' records on local disk", disk, "examples/s"),
        Row(
            "storage.s3",
            "input pipeline, the same records from a local S3 server (moto)",
            remote,
            "examples/s",
            "local disk",
            remote / disk,
        ),
    ]


def main(argv: list[str]) -> None:
    """A measurement in its own process: `RECORDS BATCH_SIZE`; prints JSON last."""
    from techtonics.bench import pipeline  # TensorFlow only in this process

    _, records_dir, batch_size = argv
    print(_RESULT, json.dumps({"examples_per_second": pipeline.pipeline_rate(records_dir, int(batch_size))}))


if __name__ == "__main__":
    errors.run(main, arguments=True)
