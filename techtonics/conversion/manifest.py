"""The conversion's manifest.json (what was written, skipped and measured) and its summary for the user.

The manifest is built from the plan and the shards' progress records
alone, never from timing, so the same arguments give the same bytes.
"""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd

from techtonics.conversion import plan
from techtonics.core import fileio
from techtonics.data import records, splits, stead


def _target_stats(meta: pd.DataFrame) -> dict:
    """Count, mean, std, min and max of every regression target over the rows where it is known."""
    stats = {}
    for name in records.TARGETS:
        values = meta[name].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        described = {"mean": values.mean, "std": values.std, "min": values.min, "max": values.max}
        stats[name] = {"count": int(values.size)}
        stats[name].update({k: float(f()) if values.size else None for k, f in described.items()})
    return stats


def build(config: plan.ConvertConfig, planned: plan.Plan, finished: dict) -> dict:
    """The manifest of a complete conversion; finished: every shard's progress record, by file name."""
    meta, assignment, shards = planned.meta, planned.assignment, planned.shards
    skipped = planned.skipped + [entry for s in shards for entry in finished[s.file]["skipped"]]
    kept = ~meta.trace_name.isin({name for name, _ in skipped}).to_numpy()
    written, split_of = meta[kept], assignment[kept]
    manifest_splits = {}
    for split in splits.SPLITS:
        # Shards whose every trace was skipped hold nothing and are not written (write.write_shard).
        files = [finished[s.file] for s in shards if s.split == split and finished[s.file]["count"]]
        if not files:
            continue
        in_split = written[split_of == split]
        is_earthquake = (in_split.trace_category == stead.EARTHQUAKE_CATEGORY).to_numpy()
        manifest_splits[split] = {
            "count": sum(f["count"] for f in files),
            "class_counts": {
                name: int((in_split.trace_category.map(stead.CATEGORY_CLASS) == i).sum())
                for i, name in enumerate(stead.CLASS_NAMES)
            },
            "target_counts": {
                name: int((is_earthquake & np.isfinite(in_split[name].to_numpy(np.float64))).sum())
                for name in records.TARGETS
            },
            "shards": [{k: f[k] for k in ("file", "count", "sha256")} for f in files],
        }
    return {
        "schema_version": records.SCHEMA_VERSION,
        "arguments": config.arguments(),
        "sources": [
            {"csv": p.csv, "csv_bytes": fileio.size(p.csv), "hdf5": p.hdf5, "hdf5_bytes": fileio.size(p.hdf5)}
            for p in config.pairs
        ],
        "waveform": {
            "shape": list(stead.WAVEFORM_SHAPE),
            "channels": list(stead.CHANNELS),
            "sampling_rate_hz": stead.SAMPLING_RATE_HZ,
            "encoding": config.encoding,
            "worst_relative_error": max(
                (finished[s.file]["worst_relative_error"] for s in shards), default=0.0
            ),
        },
        "compression": config.compression,
        "class_names": list(stead.CLASS_NAMES),
        "splits": manifest_splits,
        "skipped": dict(sorted(collections.Counter(reason for _, reason in skipped).items())),
        "skipped_traces": sorted(skipped),
        # The trainer normalises regression targets with these: the train split's only.
        "target_stats": _target_stats(written[split_of == "train"]),
    }


def summary(manifest: dict, traces: int, seconds: float) -> str:
    """A few lines saying what was written, what was skipped and how fast."""
    lines = [f"wrote {traces} traces in {seconds:.1f} s ({traces / max(seconds, 1e-9):,.0f} traces/s)"]
    for split, info in manifest["splits"].items():
        classes = ", ".join(f"{n} {name}" for name, n in info["class_counts"].items())
        lines.append(f"  {split}: {info['count']} records ({classes}) in {len(info['shards'])} shards")
    if manifest["skipped"]:
        reasons = ", ".join(f"{n} {reason}" for reason, n in manifest["skipped"].items())
        lines.append(
            f"  skipped {sum(manifest['skipped'].values())} traces: {reasons} (listed in the manifest)"
        )
    if manifest["waveform"]["encoding"] != "float32":
        lines.append(
            f"  {manifest['waveform']['encoding']} encoding: worst error "
            f"{manifest['waveform']['worst_relative_error']:.2e} of a channel's peak"
        )
    return "\n".join(lines)
