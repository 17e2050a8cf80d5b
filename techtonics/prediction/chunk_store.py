"""A continuous prediction's finished chunks on disk: what lets a killed run resume and shards merge exactly.

OUTPUT_DIR/run.json says what the run predicts with (models, input, range,
stride, threshold, shard); a later run into the directory with other
settings is refused in one line, and one with the same settings resumes.
OUTPUT_DIR/chunks/ holds one file per finished chunk (archive.Chunk): its
windows' station, start and filled seconds and every model's columns, as
predicted (float32, not the CSV's text), with what reading it skipped and its
share of the station's figure. Each is written atomically, so a chunk file
is a finished chunk. The outputs (predictions.csv, detections, figures) are
made from the chunk files in order (outputs.write_continuous), the same way
after one run, a resumed one or a merge of shards. A whole run removes
chunks/ once its outputs are written; a shard keeps it for --merge.
"""

from __future__ import annotations

import collections
import io
import json

import numpy as np

from techtonics.core import fileio
from techtonics.core.errors import UserError

SETTINGS = "run.json"
DIRECTORY = "chunks"
_PLOT = ("plot_points", "plot_min", "plot_max", "plot_start", "plot_step_s")  # continuous.ChunkRead.plot


class ChunkStore:
    """The chunk files of one prediction's output directory, held to one set of settings."""

    def __init__(self, output_dir: str, settings: dict, shard: list[int], detecting):
        """Refuses in one line a directory whose run.json holds other settings or another shard; starts or
        resumes it. settings: what the shards of one run share; detecting: outputs.Detecting."""
        self.output_dir, self.detecting = output_dir, detecting
        self.directory = fileio.join(output_dir, DIRECTORY)
        self.settings = json.loads(json.dumps(settings))  # as run.json reads back: tuples as lists
        settings = {**self.settings, "shard": shard}
        path = fileio.join(output_dir, SETTINGS)
        if fileio.exists(path):
            earlier = fileio.read_json(path)
            changed = sorted(k for k in {*earlier, *settings} if earlier.get(k) != settings.get(k))
            if changed:
                # The plan follows from the other settings; alone, it says the archive changed since.
                named = [k for k in changed if k != "plan"] or ["station-days (the archive changed since)"]
                raise UserError(
                    f"{output_dir}: holds a prediction with other {', '.join(named)} ({path}); remove it "
                    "or give another --output_dir"
                )
        else:
            fileio.write_atomic(path, json.dumps(settings, indent=2) + "\n")
        fileio.makedirs(self.directory)

    def path(self, index: int) -> str:
        """Chunk index's file."""
        return chunk_path(self.directory, index)

    def done(self) -> set[int]:
        """The chunks whose files are complete (written atomically: every one listed is)."""
        names = (name.rsplit("/", 1)[-1] for name in fileio.listdir(self.directory))
        return {int(name[:-4]) for name in names if name.endswith(".npz") and name[:-4].isdigit()}

    def write(self, index: int, station: str, columns: dict[str, np.ndarray], skipped, plot) -> None:
        """One finished chunk: its windows' columns (one value per window), skip counts, figure points."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            station=np.array(station),
            skipped=np.array(json.dumps(dict(skipped))),
            **dict(zip(_PLOT, plot)),
            **columns,
        )
        fileio.write_atomic(self.path(index), buffer.getvalue())


def remove(output_dir: str) -> None:
    """A finished run's chunk files, once the outputs made from them are written."""
    fileio.rmtree(fileio.join(output_dir, DIRECTORY))


def chunk_path(directory: str, index: int) -> str:
    """The file of chunk `index` in a chunks/ directory."""
    return fileio.join(directory, f"{index:08d}.npz")


def read(path: str) -> tuple[str, dict[str, np.ndarray], collections.Counter, tuple]:
    """(station, columns, skip counts, figure points) of one chunk file."""
    with fileio.open_file(path, "rb") as f, np.load(io.BytesIO(f.read())) as saved:
        arrays = {name: saved[name] for name in saved.files}
    station, skipped = str(arrays.pop("station")), collections.Counter(json.loads(str(arrays.pop("skipped"))))
    plot = tuple(arrays.pop(name) for name in _PLOT)
    return station, arrays, skipped, plot
