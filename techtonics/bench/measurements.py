"""Measurements that run in a process of their own, and the one way the benchmark starts them.

    python -m techtonics.bench.measure --measurement=NAME --arguments='{"records_dir": ...}' --result=PATH

runs MEASUREMENTS[NAME](**arguments) and writes what it returns, a JSON
object, atomically to PATH; `run` does that in a subprocess and reads the
file back, and `command` and `read` let a caller wrap the process (scale.py
times it and takes its peak RSS). A process of its own keeps a measurement
apart: tensorflow-io and S3 credentials only where S3 is read (storage.py),
one stage's memory counted alone (scale.py). TensorFlow is imported inside
each measurement, so only its process pays for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from techtonics.core import fileio


def pipeline_rate(records_dir: str, batch_size: int) -> dict:
    """Steady examples/s of the training input pipeline over converted records (pipeline.pipeline_rate)."""
    from techtonics.bench import pipeline

    return {"examples_per_second": pipeline.pipeline_rate(records_dir, batch_size)}


def epoch_rate(records_dir: str, batch_size: int) -> dict:
    """Examples/s over one epoch of the classifier's training input, start-up included; batches read."""
    from techtonics.data.converted import ConvertedDataset
    from techtonics.training import input_pipeline, tasks

    source = ConvertedDataset(records_dir)
    config = input_pipeline.InputConfig(batch_size=batch_size)
    ds, steps = input_pipeline.split_dataset(
        source, "train", config, tasks.get("classification"), training=True
    )
    start, iterator = time.perf_counter(), iter(ds)
    for _ in range(steps):
        next(iterator)
    return {"examples_per_second": steps * batch_size / (time.perf_counter() - start), "batches": steps}


def training_rates(records_dir: str, task: str, batch_size: int, steps: int) -> dict:
    """One CNN's training examples/s fed by the pipeline and from memory, and the share spent waiting."""
    from techtonics.bench import training

    fed, memory = training.training_rates(records_dir, task, False, batch_size, steps)
    return {
        "fed_examples_per_second": fed,
        "memory_examples_per_second": memory,
        "input_wait_share": 1 - fed / memory,
    }


def trainer_run(records_dir: str, model_dir: str, values: dict) -> dict:
    """Trains as `python -m techtonics.train` does, with the options in values (by flag name).

    first_step_seconds: the trainer's own, from fit's start to the end of the
    first training step (trainer.TrainingResult).
    """
    from techtonics.core import options
    from techtonics.training import trainer

    config = options.build(trainer.TrainConfig, values, records=records_dir)
    return {"first_step_seconds": trainer.train_and_evaluate(config, model_dir).first_step_seconds}


def archive_prediction(
    sds_root: str, start: str, end: str, model: str, stride_s: float, chunk_seconds: float, output_dir: str
) -> dict:
    """Predicts an SDS archive's range as the command does, in chunks of chunk_seconds (archive.py): the
    windows predicted and the seconds predicting took (models loaded before)."""
    from techtonics.core import options
    from techtonics.prediction import inputs, predictor

    fileio.rmtree(output_dir)  # a whole run, not one resumed
    span = options.build(inputs.SourceConfig, {"sds_root": sds_root, "start": start, "end": end}).time_range()
    source = inputs.waveforms_source(
        [], stride_s, False, time_range=span, sds_root=sds_root, chunk_seconds=chunk_seconds
    )
    config = options.build(
        predictor.PredictConfig,
        {"progress": False, "stride": stride_s},
        models=(model,),
        output_dir=output_dir,
    )
    summary = predictor.predict(config, source)
    fileio.rmtree(output_dir)
    return {"windows": summary["predictions"], "seconds": summary["seconds"]}


MEASUREMENTS = {
    f.__name__: f for f in (pipeline_rate, epoch_rate, training_rates, trainer_run, archive_prediction)
}


def measure(name: str, arguments: str, result: str) -> dict:
    """Runs MEASUREMENTS[name] with the keyword arguments in `arguments` (JSON); writes its result there."""
    measured = MEASUREMENTS[name](**json.loads(arguments))
    fileio.write_atomic(result, json.dumps(measured) + "\n")
    return measured


def command(name: str, arguments: dict, result: str) -> list[str]:
    """The command line that runs measurement `name` and writes its JSON result to the file `result`."""
    return [
        sys.executable,
        "-m",
        "techtonics.bench.measure",
        f"--measurement={name}",
        f"--arguments={json.dumps(arguments)}",
        f"--result={result}",
    ]


@contextlib.contextmanager
def result_file() -> Iterator[str]:
    """A path for one measurement's result, in a directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="techtonics-measure-") as directory:
        yield os.path.join(directory, "result.json")


def read(result: str) -> dict:
    """The result a measurement wrote to the file `result`."""
    with open(result) as f:
        return json.load(f)


def run(name: str, arguments: dict, env: dict | None = None) -> dict:
    """Runs measurement `name` in a process of its own (environment env) and returns its result."""
    with result_file() as result:
        line = command(name, arguments, result)
        done = subprocess.run(line, env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(line)} failed:\n{done.stderr[-3000:]}")
        return read(result)
