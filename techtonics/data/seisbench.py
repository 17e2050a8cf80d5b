"""SeisBench-format datasets as input: finding their files and reading their data_format.

A SeisBench dataset (SeisBench's docs, "data format"; seisbench/data/base.py)
is `metadata.csv` + `waveforms.hdf5`, or chunks `metadata{c}.csv` +
`waveforms{c}.hdf5`, named one a line by an optional `chunks` file (without
it, by the file names). Each waveform file holds `data/` (the traces, packed
in blocks: seisbench_waveforms.py) and `data_format/`, whose scalar datasets
(not attributes) give `dimension_order` ("CW": channels first; the default),
`component_order` ("ZNE"), an optional `sampling_rate` and `unit`; every
chunk's must agree. Each chunk becomes a `Chunk`: a SteadPair that the
converter plans, reads and records like STEAD's own pairs, its metadata
mapped onto STEAD's schema by seisbench_metadata.py. The unit is recorded in
the manifest (with the data_format), never converted: STEAD's are counts.
"""

from __future__ import annotations

import dataclasses
import re

import h5py
import numpy as np

from techtonics.core import fileio
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import stead


class SeisBenchError(UserError):
    """Bad SeisBench-format input; the message is one line naming the directory, file or column."""


@dataclasses.dataclass(frozen=True)
class DataFormat:
    """A waveform file's data_format group: the axes of a trace, its components, rate and unit."""

    dimension_order: str  # "CW" (channels first, SeisBench's default) or "WC"
    component_order: str
    sampling_rate: float | None  # None: every trace gives its own
    unit: str | None  # recorded, not converted: STEAD's are counts


@dataclasses.dataclass(frozen=True)
class Chunk(stead.SteadPair):
    """One chunk's metadata CSV and waveform file, read like a STEAD pair; its data_format is recorded."""

    data_format: DataFormat


def _text(value) -> str:
    """A data_format value as text: bytes, numpy strings, or a list of identifiers joined."""
    if isinstance(value, np.ndarray) and value.ndim:
        return "".join(_text(v) for v in value)
    value = value.item() if isinstance(value, np.generic) else value
    return value.decode() if isinstance(value, bytes) else str(value)


def read_data_format(path: str) -> DataFormat:
    """The data_format group of a SeisBench waveform file; a missing or unusable one is a SeisBenchError."""
    try:
        source = fileio.open_file(path, "rb") if fileio.is_remote(path) else path
        with h5py.File(source, "r") as f:
            if "data_format" not in f or "data" not in f:
                missing = "data_format" if "data_format" not in f else "data"
                raise SeisBenchError(f"{path}: no '{missing}' group, so not a SeisBench waveform file")
            values = {k: _text(v[()]) for k, v in f["data_format"].items() if isinstance(v, h5py.Dataset)}
    except OSError as e:
        raise SeisBenchError(f"{path}: not a readable HDF5 file ({str(e).splitlines()[0]})") from None
    dimensions = values.get("dimension_order", "CW")  # SeisBench's default when it is not given
    if dimensions not in ("CW", "WC"):
        raise SeisBenchError(f"{path}: data_format dimension_order {dimensions!r}: only CW and WC are read")
    components = values.get("component_order")
    if not components:
        raise SeisBenchError(f"{path}: data_format has no component_order")
    if "Z" not in components.upper():
        raise SeisBenchError(f"{path}: data_format component_order {components!r} has no Z component")
    rate = values.get("sampling_rate")
    try:
        rate = float(rate) if rate is not None else None
    except ValueError:
        raise SeisBenchError(f"{path}: data_format sampling_rate {rate!r} is not a number") from None
    return DataFormat(dimensions, components, rate, values.get("unit"))


def find_chunks(directory: str) -> list[Chunk]:
    """The chunks of a SeisBench dataset directory, as SeisBench finds them; their data_format must agree."""
    if not fileio.isdir(directory):
        raise SeisBenchError(f"{directory}: no such directory")
    names = set(fileio.listdir(directory))
    if "chunks" in names:
        with fileio.open_file(fileio.join(directory, "chunks"), "rb") as f:
            listed = [line.strip() for line in f.read().decode().splitlines() if line.strip()]
    else:
        listed = []
    if not listed:
        metadata = {m.group(1) for n in names if (m := re.fullmatch(r"metadata(.*)\.csv", n))}
        stored = {m.group(1) for n in names if (m := re.fullmatch(r"waveforms(.*)\.hdf5", n))}
        listed = [""] if "" in metadata | stored else sorted(metadata | stored)
    if not listed:
        raise SeisBenchError(
            f"{directory}: no metadata.csv (or metadata{{chunk}}.csv), so no SeisBench dataset"
        )
    chunks = []
    for chunk in listed:
        csv, hdf5 = (
            fileio.join(directory, f"{kind}{chunk}.{ext}")
            for kind, ext in (("metadata", "csv"), ("waveforms", "hdf5"))
        )
        for path in (csv, hdf5):
            if not fileio.exists(path):
                raise SeisBenchError(f"{path}: no such file" + (f" (chunk {chunk!r})" if chunk else ""))
        chunks.append(Chunk(csv, hdf5, read_data_format(hdf5)))
    differing = [c for c in chunks if c.data_format != chunks[0].data_format]
    if differing:
        raise SeisBenchError(f"{differing[0].hdf5}: data_format differs from {chunks[0].hdf5}'s")
    return chunks


@dataclasses.dataclass(frozen=True)
class SeisBenchFiles:
    """A command's SeisBench-format input (convert, predict): one option, declared once."""

    seisbench_dir: str | None = option(
        None, "SeisBench-format input: a directory of metadata.csv + waveforms.hdf5 (or their chunks)."
    )

    @property
    def given(self) -> bool:
        """Whether a SeisBench dataset was named."""
        return bool(self.seisbench_dir)

    def chunks(self) -> tuple[Chunk, ...]:
        """The dataset's chunks (none when no input is given)."""
        return tuple(find_chunks(self.seisbench_dir)) if self.seisbench_dir else ()
