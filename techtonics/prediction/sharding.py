"""Prediction across machines: which contiguous share of the input one machine predicts, and its outputs.

`Shard(index, count)` cuts any input's ordered units (STEAD or SeisBench
traces, record files, stations) into `count` contiguous blocks sized as
evenly as possible (the first `units % count` blocks one unit larger), so
the shards' outputs, concatenated in shard order, are one machine's. A
source only lists its units in order and predicts `shard.take(units)` (or
`shard.take_grouped(units_per_file)`). `ShardConfig` reads --num_shards and
--shard_index, or, when neither is given, a Slurm array's variables. A
shard of several writes into its own OUTPUT_DIR/shard-IIIII-of-NNNNN/;
merge.py joins those into OUTPUT_DIR.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import TypeVar

from techtonics.core import fileio, options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.model import export

Unit = TypeVar("Unit")
DIRECTORY = re.compile(r"shard-\d{5,}-of-\d{5,}")  # a shard's output directory, Shard.name


@dataclasses.dataclass(frozen=True)
class Shard:
    """This machine's share of the input: block `index` (from 0) of `count`."""

    index: int = 0
    count: int = 1

    def __post_init__(self):
        if self.count < 1:
            raise UserError(f"--num_shards={self.count}: must be at least 1")
        if not 0 <= self.index < self.count:
            raise UserError(
                f"--shard_index={self.index}: outside the {self.count} shards (0 to {self.count - 1})"
            )

    @property
    def name(self) -> str:
        """shard-00002-of-00004: its output directory's name."""
        return f"shard-{self.index:05d}-of-{self.count:05d}"

    def bounds(self, units: int) -> tuple[int, int]:
        """[start, stop) of this shard's block of `units` units."""
        size, larger = divmod(units, self.count)
        start = self.index * size + min(self.index, larger)
        return start, start + size + (self.index < larger)

    def take(self, units: Sequence[Unit]) -> Sequence[Unit]:
        """This shard's contiguous block of units (a list, tuple or array), in order."""
        start, stop = self.bounds(len(units))
        return units[start:stop]

    def take_grouped(self, groups: Sequence[Sequence[Unit]]) -> list[Sequence[Unit]]:
        """This shard's block of the groups' units end to end, still one sequence per group (maybe empty).

        For inputs of several files read file by file: STEAD's pairs, a
        SeisBench dataset's chunks.
        """
        start, stop = self.bounds(sum(len(group) for group in groups))
        taken, offset = [], 0
        for group in groups:
            taken.append(group[max(start - offset, 0) : max(stop - offset, 0)])
            offset += len(group)
        return taken

    def output_dir(self, base: str) -> str:
        """Where this shard writes: base itself for a whole input, base/shard-IIIII-of-NNNNN for a share."""
        return base if self.count == 1 else fileio.join(base, self.name)

    def summary(self, kind: str, units: int) -> dict:
        """What summary.json records of the shard: merge checks the shards against each other with it."""
        return {"index": self.index, "count": self.count, "input": kind, "input_units": units}


WHOLE = Shard()  # one machine predicts everything


def slurm_shard(environ: Mapping[str, str]) -> Shard:
    """The shard of this Slurm array task, from SLURM_ARRAY_TASK_*; WHOLE outside an array.

    Array task ids need not start at 0 nor step by 1 (--array=1-7:2): the
    shard is the task's place among MIN, MIN+STEP, ..., MAX. An array whose
    ids are not such a range (--array=0,3,4) is refused.
    """
    if "SLURM_ARRAY_TASK_ID" not in environ:
        return WHOLE
    task, count = int(environ["SLURM_ARRAY_TASK_ID"]), int(environ.get("SLURM_ARRAY_TASK_COUNT", "1"))
    first = int(environ.get("SLURM_ARRAY_TASK_MIN", "0"))
    step = int(environ.get("SLURM_ARRAY_TASK_STEP") or "1")
    last = int(environ.get("SLURM_ARRAY_TASK_MAX", str(first + (count - 1) * step)))
    index, off_step = divmod(task - first, step)
    if off_step or last != first + (count - 1) * step or not 0 <= index < count:
        raise UserError(
            f"Slurm array task {task}: the array's {count} task ids ({first} to {last}, step {step}) are "
            f"not an evenly stepped range; submit --array=0-{count - 1} or give --num_shards and "
            "--shard_index"
        )
    return Shard(index, count)


@dataclasses.dataclass(frozen=True)
class ShardConfig:
    """Prediction across machines: this machine's shard of the input, or a merge of finished shards."""

    num_shards: int | None = option(
        None,
        "Split the input into this many contiguous shards, one per machine (default 1); shard I writes "
        "OUTPUT_DIR/shard-IIIII-of-NNNNN/.",
        minimum=1,
    )
    shard_index: int | None = option(None, "The shard this machine predicts, 0 to --num_shards - 1.")
    # Asked for, never assumed: a job array whose tasks each predict everything (one model a task) must not
    # be cut into shards because it runs in an array.
    slurm_shards: bool = option(
        False, "Take --num_shards and --shard_index from this Slurm array task's place in its array."
    )
    merge: tuple[str, ...] = option(
        (),
        "Join finished shards into --output_dir, as one machine would have written it: shard directories, "
        "or directories holding shard-*-of-* ones (comma-separated).",
    )

    def __post_init__(self):
        options.check(self)
        if (self.num_shards is None) != (self.shard_index is None):
            raise UserError("give --num_shards and --shard_index together")
        if self.slurm_shards and self.num_shards is not None:
            raise UserError("give --slurm_shards or --num_shards and --shard_index, not both")
        if self.num_shards is not None:
            Shard(self.shard_index, self.num_shards)  # its checks, in one line, before any work
            if self.merge:
                raise UserError(
                    "--merge joins finished shards: give it without --num_shards and --shard_index"
                )

    def shard(self, environ: Mapping[str, str] = os.environ) -> Shard:
        """The flags' shard, or the Slurm array task's (--slurm_shards), else WHOLE."""
        if self.num_shards is not None:
            return Shard(self.shard_index, self.num_shards)
        if not self.slurm_shards:
            return WHOLE
        if "SLURM_ARRAY_TASK_ID" not in environ:
            raise UserError("--slurm_shards: not in a Slurm array task (no SLURM_ARRAY_TASK_ID)")
        return slurm_shard(environ)

    def check_job(self, source_config, models: Sequence[str]) -> None:
        """Refuses in one line a merge given inputs or models, and a prediction without a model.

        source_config: the inputs' config (prediction/inputs.SourceConfig);
        every option that differs from its default counts as an input given.
        """
        if not self.merge:
            if not models:
                raise UserError("no model: give --model=EXPORT_DIR (or --merge=DIR to join finished shards)")
            return
        defaults = options.flat(type(source_config)())
        given = [f"--{k}" for k, v in options.flat(source_config).items() if v != defaults[k]]
        given += ["--model"] if models else []
        if given:
            raise UserError(
                "--merge joins finished shards' outputs: give no input or model with it "
                f"(got {', '.join(given)})"
            )


def model_id(path: str) -> dict:
    """An exported model's identity: its path and a digest of its techtonics.json and SavedModel fingerprint.

    The fingerprint (fingerprint.pb, beside saved_model.pb) holds hashes of
    the graph and of the weights' checkpoint; an export without one (older
    TensorFlow) is identified by saved_model.pb itself. The decision
    threshold is left out: an evaluation records it again without changing
    the model, and the threshold a shard used is in its summary's settings.
    """
    graph = fileio.join(path, "fingerprint.pb")
    if not fileio.exists(graph):
        graph = fileio.join(path, "saved_model.pb")
    info = export.read_info(path)
    described = json.dumps({k: v for k, v in info.items() if k != export.THRESHOLD}, sort_keys=True)
    parts = [hashlib.sha256(described.encode()).hexdigest(), fileio.sha256(graph)]
    return {"path": path, "digest": hashlib.sha256(" ".join(parts).encode()).hexdigest()[:32]}
