"""s3:// for real: conversion, training, resume and prediction against a local S3 server (moto).

Every S3 access runs in a subprocess: tensorflow-io's S3 client would abort
this process at exit (errors._exit). GCS has no local test: see docs/storage.md
for why.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from conftest import REPO

from techtonics.core import fileio
from techtonics.data import records
from techtonics.testing import local_s3

BUCKET = "techtonics-test"
EXTRA = fileio.extra_file_systems()  # the s3 extra's set: TensorFlow 2.17 with tensorflow-io


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on a free loopback port, stopped at the end (failed or not)."""
    if not EXTRA:
        pytest.skip("s3:// needs the s3 extra's set (make test-s3)")
    with local_s3.Server(BUCKET) as server:
        yield server


def _run(env, *command, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", *command], env=env, capture_output=True, text=True, cwd=REPO)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    assert "pure virtual method called" not in done.stderr
    return done


def _sigkill_when(env, command: list[str], ready, what: str) -> None:
    """Runs `python -m *command` and SIGKILLs it as soon as ready() holds; fails if it ends before."""
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not ready():
        assert process.poll() is None and time.monotonic() < deadline, (
            f"{what} ended before it could be killed"
        )
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, f"{what} ended before it was killed"


@pytest.fixture(scope="module")
def s3_records(s3, tiny_stead) -> str:
    env = s3.env
    url = f"s3://{BUCKET}/records"
    _run(
        env,
        "techtonics.convert",
        f"--stead_dir={tiny_stead}",
        f"--output_dir={url}",
        "--verify",
        "--processes=2",
    )
    return url


def test_conversion_into_a_bucket_verifies_there(s3, s3_records):
    env = s3.env
    keys = s3.keys("records/")
    assert f"records/{records.MANIFEST_NAME}" in keys and not [k for k in keys if ".tmp-" in k]
    assert len([k for k in keys if k.endswith(".tfrecord")]) == 24  # 8 shards (--min_shards) per split
    done = _run(env, "techtonics.convert", f"--output_dir={s3_records}", "--verify")
    assert "matches the manifest" in done.stderr


@pytest.mark.slow
def test_training_in_a_bucket_resumes_after_sigkill_and_predicts_from_it(s3, s3_records, tmp_path):
    env = s3.env
    model_dir = f"s3://{BUCKET}/runs/classification"
    train = [
        "techtonics.train",
        f"--records={s3_records}",
        f"--model_dir={model_dir}",
        "--epochs=3",
        "--batch_size=8",
        "--shuffle_buffer=64",
        "--steps_per_epoch=4",
        "--evaluate_split=test",
    ]
    # Epoch 1's backup is complete (its `checkpoint` pointer is written last): training is in epoch 2.
    backup = "runs/classification/backup/chief/checkpoint"
    _sigkill_when(env, train, lambda: backup in s3.keys("runs/classification/backup/"), "training")
    # No checkpoint under its final name without its data (TensorFlow writes the index last).
    after_kill = s3.keys("runs/classification/checkpoints/")
    for index in [k for k in after_kill if k.endswith(".index")]:
        assert index.replace(".index", ".data-00000-of-00001") in after_kill
    resumed = _run(env, *train)
    assert "trained epochs [2, 3]" in resumed.stdout or "trained epochs [3]" in resumed.stdout, resumed.stdout
    keys = s3.keys("runs/classification/")
    expected = [
        "checkpoints/epoch-003.index",
        "best/checkpoint",
        "history.csv",
        "flags.txt",
        "export/techtonics.json",
        "eval/test/metrics.json",
    ]
    assert all(f"runs/classification/{name}" in keys for name in expected)
    assert any("/backup/" in k for k in keys) and any("/logs/" in k for k in keys)
    history = s3.text("runs/classification/history.csv")
    assert [line.split(",")[0] for line in history.splitlines()[1:]] == ["0", "1", "2"]  # every epoch once

    output = f"s3://{BUCKET}/predictions"
    _run(
        env,
        "techtonics.predict",
        f"--model={model_dir}/export",
        f"--records={s3_records}",
        "--split=test",
        f"--output_dir={output}",
        "--noprogress",
    )
    rows = s3.text("predictions/predictions.csv").splitlines()
    assert (
        rows[0].startswith("trace_name,classification.p_noise") and len(rows) == 1 + 15
    )  # the test split: 10% of 150


@pytest.mark.slow
def test_a_killed_conversion_leaves_no_partial_shard_under_its_name(s3, tiny_stead, tmp_path):
    env, client = s3.env, s3.client
    url = f"s3://{BUCKET}/killed"
    command = [
        "techtonics.convert",
        f"--stead_dir={tiny_stead}",
        f"--output_dir={url}",
        "--shard_mb=0.5",
        "--processes=2",
        "--noprogress",
    ]
    # Killed once the first shard is finished: others are being written.
    _sigkill_when(
        env, command, lambda: any(k.endswith(".json") for k in s3.keys("killed/_progress/")), "the conversion"
    )
    shards = [k for k in s3.keys("killed/") if k.endswith(".tfrecord")]
    assert shards, "no shard was written before the kill"
    for key in shards:  # every object under a final name is a whole, readable shard
        path = tmp_path / key.replace("/", "_")
        client.download_file(BUCKET, key, str(path))
        assert sum(1 for _ in tf.data.TFRecordDataset(str(path))) > 0
    _run(env, *command, "--verify")  # the same command resumes and ends verified


def test_an_unreachable_endpoint_unknown_bucket_or_wrong_credential_is_one_line(s3, tiny_stead, tmp_path):
    env = s3.env
    closed = dict(env, S3_ENDPOINT=f"http://127.0.0.1:{local_s3.free_port()}", S3_CONNECT_TIMEOUT_MSEC="1000")
    started = time.monotonic()
    done = _run(
        closed, "techtonics.train", "--records=s3://any/records", f"--model_dir={tmp_path}", check=False
    )
    assert done.returncode == 1 and time.monotonic() - started < 60
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: s3://any/records/manifest.json: cannot reach the S3 endpoint http://127.0.0.1:")
    )
    with local_s3.Server(BUCKET, authenticate=True) as refusing:
        done = _run(
            refusing.env,
            "techtonics.convert",
            f"--stead_dir={tiny_stead}",
            f"--output_dir=s3://{BUCKET}/x",
            check=False,
        )
        error = done.stderr.strip().splitlines()[-1]
        assert error.startswith(f"error: s3://{BUCKET}/x") and error.endswith(
            ": cannot write the records there "
            "(InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.)"
        )
        done = _run(
            refusing.env,
            "techtonics.train",
            f"--records=s3://{BUCKET}/x",
            f"--model_dir={tmp_path}",
            check=False,
        )
        assert "no such manifest (or reading it is refused: check the credentials)" in done.stderr
    done = _run(
        env,
        "techtonics.convert",
        f"--stead_dir={tiny_stead}",
        "--output_dir=s3://no-such-bucket/x",
        check=False,
    )
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: s3://no-such-bucket/x") and error.endswith(
        ": cannot write the records there (NoSuchBucket: The specified bucket does not exist)"
    )


@pytest.mark.skipif(EXTRA, reason="the s3 extra's set has the file systems")
def test_without_the_s3_extra_each_such_path_is_one_line_naming_the_extra(tiny_stead, tiny_records, tmp_path):
    commands = {  # the URL each command is given, in an input or an output
        "s3://any/records": [
            "techtonics.convert",
            f"--stead_dir={tiny_stead}",
            "--output_dir=s3://any/records",
        ],
        "hdfs://nn/records": ["techtonics.train", "--records=hdfs://nn/records", f"--model_dir={tmp_path}"],
        "az://account/runs": [
            "techtonics.train",
            f"--records={tiny_records}",
            "--model_dir=az://account/runs",
        ],
        "s3://any/export": [
            "techtonics.predict",
            "--model=s3://any/export",
            f"--records={tiny_records}",
            f"--output_dir={tmp_path / 'predictions'}",
        ],
    }
    for url, command in commands.items():
        done = _run(dict(os.environ), *command, check=False)
        scheme = url.split(":")[0]
        line = done.stderr.strip().splitlines()[-1]
        assert done.returncode == 1 and line.startswith(f"error: {url}"), done.stderr
        assert line.endswith(
            f": {scheme}:// paths need tensorflow-io's file systems, which load only on "
            "TensorFlow 2.17: pip install 'techtonics[s3]' on Python 3.10-3.12 (docs/storage.md)"
        ), line
        assert "Traceback" not in done.stderr
