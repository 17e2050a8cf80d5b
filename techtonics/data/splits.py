"""Choosing traces and assigning them to train / validation / test.

All functions are pure (metadata in, index arrays out) and seeded, so the
same arguments give the same selection and splits on every machine.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from techtonics.core import fileio, options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import stead

SPLITS = ("train", "validation", "test")
SPLIT_BY = ("trace", "source_id")


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """How to split: fractions, grouping, an optional fixed test list, the seed."""

    validation_fraction: float = option(0.1, "Share of each class for validation.", minimum=0.0)
    test_fraction: float = option(
        0.1, "Share of each class for test (ignored with --test_trace_list).", minimum=0.0
    )
    split_by: str = option("trace", "'source_id' keeps each event's traces in one split.", choices=SPLIT_BY)
    test_traces: frozenset[str] | None = None  # read from --test_trace_list
    seed: int = option(0, "Seed of the subset, the splits and the shard assignment.")
    dataset_splits: bool = option(
        True,
        "SeisBench input: keep the dataset's train/dev/test `split` column (dev is validation); "
        "false: split by the fractions, as for STEAD.",
    )

    def __post_init__(self):
        options.check(self)
        for name in ("validation_fraction", "test_fraction"):
            if getattr(self, name) >= 1.0:
                raise UserError(f"--{name}={getattr(self, name)}: must be below 1")
        if self.validation_fraction + self.test_fraction >= 1.0:
            raise UserError(
                f"validation_fraction + test_fraction must leave traces for training, "
                f"got {self.validation_fraction} + {self.test_fraction}"
            )


def select(meta: pd.DataFrame, noise: int | None, earthquakes: int | None, seed: int) -> np.ndarray:
    """Row indices of a random subset with the asked number per class (None: all).

    meta: the metadata table (trace_category); noise and earthquakes: traces
    wanted of each class; seed: of the draw.

    Indices come back sorted, so the subset reads in file order.
    """
    rng = np.random.default_rng([seed, 11])
    chosen = []
    for category, wanted in ((stead.NOISE_CATEGORY, noise), (stead.EARTHQUAKE_CATEGORY, earthquakes)):
        rows = np.flatnonzero(meta.trace_category.to_numpy() == category)
        if wanted is None:
            chosen.append(rows)
            continue
        if wanted > rows.size:
            raise UserError(f"asked for {wanted} {category} traces but the input holds {rows.size}")
        chosen.append(rng.choice(rows, size=wanted, replace=False))
    indices = np.sort(np.concatenate(chosen))
    if indices.size == 0:
        raise UserError("the selection is empty: no traces to convert")
    return indices


def _groups(meta: pd.DataFrame, split_by: str) -> pd.Series:
    """Group key per row: the trace itself, or its event (noise traces stand alone)."""
    if split_by == "trace":
        return meta.trace_name
    return meta.source_id.where(meta.source_id.notna(), "trace:" + meta.trace_name)


def assign(meta: pd.DataFrame, config: SplitConfig) -> np.ndarray:
    """The split name of every row of `meta`, stratified by class.

    Within each class, groups (traces or events) are shuffled and dealt to
    test, then validation, until each holds its fraction of the class's
    traces; the rest train. With a test list, every group holding a listed
    trace is test, and the others are dealt to validation and train.
    """
    rng = np.random.default_rng([config.seed, 12])
    groups = _groups(meta, config.split_by).to_numpy()
    result = np.full(len(meta), "train", dtype=object)
    for category in stead.CATEGORY_CLASS:
        rows = np.flatnonzero(meta.trace_category.to_numpy() == category)
        if rows.size == 0:
            continue
        keys, inverse, sizes = np.unique(groups[rows], return_inverse=True, return_counts=True)
        group_split = np.full(keys.size, "train", dtype=object)
        quotas = {"test": config.test_fraction, "validation": config.validation_fraction}
        if config.test_traces is not None:
            listed = meta.trace_name.to_numpy()[rows]
            in_list = np.isin(listed, list(config.test_traces))
            group_split[np.unique(inverse[in_list])] = "test"
            quotas = {"validation": config.validation_fraction}
        order = rng.permutation(keys.size)
        filled = {name: 0 for name in quotas}
        for g in order:
            if group_split[g] != "train":
                continue
            for name, fraction in quotas.items():
                if filled[name] < round(fraction * rows.size):
                    group_split[g] = name
                    filled[name] += sizes[g]
                    break
        result[rows] = group_split[inverse]
    return result.astype(str)


def read_trace_list(path: str) -> frozenset[str]:
    """Trace names from a list file (local or object store): one a line; blanks and '#' comments ignored.

    Accepts EQTransformer's published test list and CSVs whose first column
    is the trace name (a 'trace_name' header line is skipped). A missing
    file is a UserError naming it.
    """
    if not fileio.exists(path):
        raise UserError(f"{path}: no such trace list")
    with fileio.open_file(path, "rb") as f:
        text = f.read().decode()
    names = set()
    for line in text.splitlines():
        name = line.split(",")[0].strip()
        if name and not name.startswith("#") and name != "trace_name":
            names.add(name)
    return frozenset(names)
