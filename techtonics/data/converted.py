"""A converted dataset as readers see it: its manifest, shard paths, example counts and target statistics."""

from __future__ import annotations

import hashlib
import json

from techtonics.core import fileio
from techtonics.core.errors import UserError
from techtonics.data import records, splits


class ConvertedDataset:
    """The converter's output at `path` (its directory or manifest.json), read through its manifest."""

    def __init__(self, path: str):
        self.manifest = records.read_manifest(path)
        self.path = path
        self.directory = path.rsplit("/", 1)[0] if path.endswith(".json") else path
        self.encoding = self.manifest["waveform"]["encoding"]
        self.compression = records.compression_type(self.manifest)

    @property
    def identity(self) -> str:
        """What the dataset holds, wherever it lies: a digest of its shards' digests (names, for old ones)."""
        shards = {
            split: [s.get("sha256", s["file"]) for s in info["shards"]]
            for split, info in sorted(self.manifest["splits"].items())
        }
        return hashlib.sha256(json.dumps(shards).encode()).hexdigest()

    def _split(self, split: str) -> dict:
        if split not in splits.SPLITS:
            raise UserError(f"unknown split {split!r}; use one of {', '.join(splits.SPLITS)}")
        info = self.manifest["splits"].get(split)
        if not info or not info["count"]:
            raise UserError(f"{self.path}: the {split} split is empty; convert with a {split} fraction")
        return info

    def has(self, split: str) -> bool:
        """Whether the split holds any record."""
        return bool(self.manifest["splits"].get(split, {}).get("count"))

    def files(self, split: str) -> list[str]:
        """The split's shard paths; a missing shard is a one-line error."""
        paths = [fileio.join(self.directory, s["file"]) for s in self._split(split)["shards"]]
        missing = [p for p in paths if not fileio.exists(p)]
        if missing:
            raise UserError(f"{missing[0]}: shard listed in the manifest is missing ({len(missing)} missing)")
        return paths

    def class_counts(self, split: str) -> dict[str, int]:
        """Records in the split of each class, by class name."""
        return self._split(split)["class_counts"]

    def count(self, split: str) -> int:
        """Records in the split, of every class."""
        return self._split(split)["count"]

    def file_counts(self, split: str) -> list[int]:
        """Records in each of the split's shards, in the order of files()."""
        return [s["count"] for s in self._split(split)["shards"]]

    def target_count(self, split: str, target: str) -> int:
        """Earthquakes in the split that have a value of `target`."""
        count = self._split(split)["target_counts"][target]
        if not count:
            raise UserError(f"{self.path}: the {split} split has no earthquakes with a {target}")
        return count

    def normalization(self, target: str) -> tuple[float, float]:
        """(mean, std) of the target over the training split."""
        stats = self.manifest["target_stats"][target]
        if not stats["count"]:
            raise UserError(f"{self.path}: no training traces have a {target}")
        return stats["mean"], stats["std"] if stats["std"] and stats["std"] > 0 else 1.0
