"""The benchmark's data: synthetic STEAD in the original subset's class ratio, and its records, made once."""

from __future__ import annotations

import os

from techtonics.conversion import converter, plan
from techtonics.core import fileio
from techtonics.data import records, stead
from techtonics.synthetic import generator, reference
from techtonics.testing import seisbench_format


def generated_stead(workdir: str, traces: int) -> str:
    """A synthetic STEAD of `traces` traces, made once, as one merged pair (the layout SeisBench converts)."""
    directory = os.path.join(workdir, f"stead-{traces}")
    noise = round(traces * reference.ORIGINAL_NOISE_SHARE)
    generator.write_synthetic_stead(directory, traces - noise, noise, seed=0, merged=True, resume=True)
    return directory


def seisbench_copy(workdir: str, traces: int) -> str:
    """generated_stead(workdir, traces) as SeisBench's STEAD conversion writes it; made once."""
    directory = os.path.join(workdir, f"seisbench-{traces}")
    if not os.path.exists(os.path.join(directory, "metadata.csv")):  # written last
        pairs = stead.find_pairs(generated_stead(workdir, traces))
        seisbench_format.stead_copy(pairs, directory)
    return directory


def records_dir(workdir: str, traces: int, encoding: str = "float32") -> str:
    """Where converted_records keeps the records of generated_stead(workdir, traces)."""
    return os.path.join(workdir, f"records-{traces}" + ("" if encoding == "float32" else f"-{encoding}"))


def converted_records(workdir: str, traces: int, encoding: str = "float32") -> str:
    """The records of generated_stead(workdir, traces), converted unless their manifest is there."""
    directory = records_dir(workdir, traces, encoding)
    if not fileio.exists(fileio.join(directory, records.MANIFEST_NAME)):
        pairs = tuple(stead.find_pairs(generated_stead(workdir, traces)))
        config = plan.ConvertConfig(pairs=pairs, output_dir=directory, encoding=encoding)
        converter.convert(config, progress=False)
    return directory
