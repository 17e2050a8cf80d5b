"""Object storage: the input pipeline reading the same records from a local S3 server and from local disk.

The records of datasets.converted_records are uploaded byte for byte to
moto's S3 server on 127.0.0.1 (techtonics.testing.local_s3), and the
training input pipeline's steady rate is measured on each in its own process
(measurements.run: tensorflow-io is loaded only where S3 is read). Loopback
has no network latency or bandwidth limit, so the ratio measures the S3
client's own cost (HTTP, request signing, multi-part reads), not a real
bucket's.
"""

from __future__ import annotations

import os

from techtonics.bench import datasets, measurements
from techtonics.bench.report import Row
from techtonics.data import records
from techtonics.testing import local_s3


def _rate(records_dir: str, batch_size: int, env: dict | None) -> float:
    arguments = {"records_dir": records_dir, "batch_size": batch_size}
    return measurements.run("pipeline_rate", arguments, env)["examples_per_second"]


def run(workdir: str, traces: int, batch_size: int) -> list[Row]:
    """The pipeline's examples/s from S3 against local disk, on the records of `traces` generated traces."""
    local = datasets.converted_records(workdir, traces)
    with local_s3.Server() as s3:
        for name in os.listdir(local):
            if name.endswith(".tfrecord") or name == records.MANIFEST_NAME:
                s3.client.upload_file(os.path.join(local, name), s3.bucket, f"records/{name}")
        remote = _rate(f"s3://{s3.bucket}/records", batch_size, s3.env)
    disk = _rate(local, batch_size, None)
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
