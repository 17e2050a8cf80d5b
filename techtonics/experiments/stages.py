"""Stages the demo and the reproduction run, each as users would: generate, convert, train.

Each resumes what an interrupted run left. Training runs the trainer's own
command line in a subprocess, so what these commands do is what users do.
"""

import json
import os
import subprocess
import sys

from techtonics.conversion import converter, plan, verify
from techtonics.core import errors
from techtonics.data import splits, stead
from techtonics.synthetic import generator
from techtonics.training import evaluation_kinds, tasks


def generate(stead_dir: str, earthquakes: int, noise: int, seed: int) -> list[stead.SteadPair]:
    """Writes the synthetic STEAD unless a complete one is already there."""
    try:
        pairs = stead.find_pairs(stead_dir)
        print(f"synthetic STEAD already in {stead_dir}")
        return pairs
    except stead.SteadError:
        print(f"writing {earthquakes} earthquake + {noise} noise traces to {stead_dir} ...")
        return generator.write_synthetic_stead(stead_dir, earthquakes, noise, seed)


def to_records(pairs: list[stead.SteadPair], records_dir: str, seed: int) -> dict:
    """Converts to TFRecords (resuming if interrupted) and verifies every shard."""
    print(f"converting to TFRecords in {records_dir} ...")
    config = plan.ConvertConfig(
        pairs=tuple(pairs),
        output_dir=records_dir,
        split=splits.SplitConfig(split_by="source_id", seed=seed),
    )
    manifest = converter.convert(config)
    problems = verify.verify(records_dir)
    if problems:
        raise errors.UserError(f"{records_dir}: verify failed: " + "; ".join(problems))
    return manifest


def train(records_dir: str, model_dir: str, job_flags: tuple[str, ...]) -> dict:
    """Runs `python -m techtonics.train` as users do; returns its test metrics."""
    command = [
        sys.executable,
        "-m",
        "techtonics.train",
        *job_flags,
        f"--records={records_dir}",
        f"--model_dir={model_dir}",
    ]
    print(f"\ntraining: {' '.join(command[1:])}", flush=True)
    if subprocess.run(command, check=False).returncode != 0:
        raise errors.UserError(f"training {model_dir} failed (its error is above)")
    with open(os.path.join(model_dir, "eval", "test", "metrics.json")) as f:
        return json.load(f)


def describe(metrics: dict) -> str:
    """One line of the headline test metrics of an evaluation's metrics.json."""
    return evaluation_kinds.summary(tasks.from_info(metrics), metrics)


def describe_p_offset(metrics: dict) -> str:
    """One line of an evaluation's metrics against where P was placed (metrics.json's p_offset)."""
    by_offset = metrics["p_offset"]
    places = "/".join(f"{o:g}" for o in by_offset["offsets_s"])
    return (
        "; ".join(
            f"{name} " + " ".join(f"{v:.2f}" for v in values)
            for name, values in by_offset.items()
            if name != "offsets_s"
        )
        + f" (P at {places} s)"
    )
