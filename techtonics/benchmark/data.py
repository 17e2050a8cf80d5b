"""A dataset as the pick-benchmark reads it: every trace in dataset order, with its split and arrivals, and
each trace read whole.

- SeisBench format (--seisbench_dir): the chunks in their order, each
  metadata file's rows in theirs. Arrivals
  come from every targets.PHASES column the metadata has, scaled to 100 Hz;
  the split from the `split` column (none: no split). Traces are named by
  SeisBench's `trace_name` (block$location), as the field's targets name them.
- STEAD files (--stead_dir, or --csv and --hdf5): the pairs in their order;
  p and s arrivals as SeisBench's STEAD conversion names them; the split
  from the converted dataset the models were trained on (--records): the
  converter's plan is rebuilt from its manifest over these same files, so
  its validation split is dev and its test split test, and a trace it did
  not select has none.

Traces a reader cannot use (seisbench_metadata.load_chunk's reasons, or
STEAD files that do not open) are counted by reason and left out.
"""

from __future__ import annotations

import collections
import dataclasses
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd

from techtonics.benchmark import targets
from techtonics.conversion import plan
from techtonics.core import fileio
from techtonics.core.errors import UserError
from techtonics.data import seisbench, seisbench_metadata, seisbench_waveforms, splits, stead
from techtonics.data.converted import ConvertedDataset

# The converter's split names as the benchmark's (SeisBench's dev is the converter's validation).
BENCHMARK_SPLIT = {"train": "train", "validation": "dev", "test": "test"}
# STEAD's arrival columns under SeisBench's STEAD names (the field's phase_dict reads those).
STEAD_PHASES = {"p_arrival_sample": "trace_p_arrival_sample", "s_arrival_sample": "trace_s_arrival_sample"}


@dataclasses.dataclass
class Dataset:
    """The traces in dataset order (trace_name, unique; trace_split ("" for none), samples at 100 Hz,
    file, and the targets.PHASES columns the dataset has, at 100 Hz), and how to read them: `open(file,
    names)` gives a reader of those traces of a file (a context manager), `read_whole(reader,
    trace_name)` a trace's whole (samples, 3) float32 E/N/Z waveform at 100 Hz."""

    path: str
    traces: pd.DataFrame
    open: Callable[[int, list[str]], object]
    read_whole: Callable[[object, str], np.ndarray]
    skipped: collections.Counter

    def __post_init__(self):
        repeated = self.traces.trace_name.duplicated()
        if repeated.any():  # the field's targets name a trace by its name alone
            raise UserError(f"{self.path}: trace {self.traces.trace_name[repeated.idxmax()]} is in two files")


def from_seisbench(chunks: tuple[seisbench.Chunk, ...]) -> Dataset:
    """A SeisBench-format dataset's traces, chunk after chunk."""
    frames, readers, skipped = [], [], collections.Counter()
    for file, chunk in enumerate(chunks):
        meta, bad = seisbench_metadata.load_chunk(chunk, labelled=False)
        skipped.update(reason for _, reason in bad)
        with fileio.open_file(chunk.csv, "rb") as f:
            raw = pd.read_csv(f, dtype=str, keep_default_na=False, na_values=list(stead.MISSING_SPELLINGS))
        usable = raw.trace_name.isin(set(meta[seisbench_waveforms.NAME])).to_numpy()
        rate = seisbench_metadata.sampling_rates(raw, chunk.data_format, chunk.csv)
        traces = pd.DataFrame(
            {
                "trace_name": raw.trace_name,
                "trace_split": raw.get(
                    seisbench_metadata.SPLIT_COLUMN, pd.Series("", index=raw.index)
                ).fillna(""),
            }
        )[usable].reset_index(drop=True)
        traces["samples"] = meta[seisbench_waveforms.SAMPLES].to_numpy()
        traces["file"] = file
        for column in targets.PHASES:
            if column in raw.columns:
                # SeisBench scales a trace's *_sample columns by the resampling's ratio.
                scale = targets.SAMPLING_RATE_HZ / rate[usable]
                traces[column] = pd.to_numeric(raw[column][usable], errors="coerce").to_numpy() * scale
        frames.append(traces)
        # Indexed by name, so a batch's reader is made from its own rows, not the whole chunk's.
        readers.append(meta[list(seisbench_waveforms.READ_COLUMNS)].set_index(meta[seisbench_waveforms.NAME]))
    path = chunks[0].csv.rsplit("/", 1)[0] if chunks else ""
    return Dataset(
        path,
        pd.concat(frames, ignore_index=True),
        lambda file, names: seisbench_waveforms.WaveformReader(
            chunks[file].hdf5, readers[file].loc[names].rename_axis("trace_name").reset_index()
        ),
        lambda reader, name: reader.read_whole(name),
        skipped,
    )


def converter_splits(pairs: tuple[stead.SteadPair, ...], records_path: str) -> dict[str, str]:
    """Each trace's benchmark split (BENCHMARK_SPLIT) as the conversion at records_path assigned it, its plan
    rebuilt from the manifest's arguments over `pairs`, which must be the files it converted."""
    converted = ConvertedDataset(records_path)
    sources = converted.manifest["sources"]
    sizes = [(s["csv_bytes"], s["hdf5_bytes"]) for s in sources]
    if sizes != [(fileio.size(p.csv), fileio.size(p.hdf5)) for p in pairs]:
        raise UserError(
            f"--records={records_path}: converted from other files ({', '.join(s['csv'] for s in sources)}) "
            "than the STEAD input given; give the files it was converted from"
        )
    arguments = converted.manifest["arguments"]
    config = plan.ConvertConfig(
        pairs=pairs,
        output_dir=records_path,
        noise_traces=arguments["noise_traces"],
        earthquake_traces=arguments["earthquake_traces"],
        split=splits.SplitConfig(**arguments["split"]),
        test_trace_list=arguments["test_trace_list"],
    )
    planned = plan.build(config)
    return dict(zip(planned.meta.trace_name, (BENCHMARK_SPLIT[s] for s in planned.assignment)))


def from_stead(pairs: tuple[stead.SteadPair, ...], records_path: str | None, splits_needed: bool) -> Dataset:
    """STEAD pairs' traces, pair after pair, split as the conversion at records_path split them (no split
    when not splits_needed: given targets name their own)."""
    if splits_needed and not records_path:
        raise UserError(
            "STEAD input: give --records=DIR, the converted dataset the models were trained on, whose "
            "validation and test splits are the benchmark's dev and test (or give --targets)"
        )
    split_of = converter_splits(pairs, records_path) if splits_needed else {}
    frames, skipped = [], collections.Counter()
    for file, pair in enumerate(pairs):
        meta = stead.read_metadata(pair.csv, columns=tuple(STEAD_PHASES))
        try:  # an unreadable file is skipped now, not an error in the middle of scoring
            stead.WaveformFile(pair.hdf5).close()
        except stead.SteadError as e:
            print(f"warning: {e}; skipping its {len(meta)} traces", file=sys.stderr)
            skipped["in an unreadable HDF5 file"] += len(meta)
            continue
        traces = meta.rename(columns=STEAD_PHASES)[["trace_name", *STEAD_PHASES.values()]]
        traces.insert(1, "trace_split", [split_of.get(name, "") for name in meta.trace_name])
        traces["samples"], traces["file"] = stead.TRACE_SAMPLES, file
        frames.append(traces)
    if not frames:
        raise UserError("no readable STEAD file among the input")
    return Dataset(
        pairs[0].csv.rsplit("/", 1)[0],
        pd.concat(frames, ignore_index=True),
        lambda file, names: stead.WaveformFile(pairs[file].hdf5),
        lambda reader, name: reader.read(name),
        skipped,
    )
