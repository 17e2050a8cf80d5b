"""Joins the outputs of a prediction's shards (sharding.py) into the outputs one machine would have written.

`merge(directories, output_dir)`: each directory is one shard's output or
holds shard-IIIII-of-NNNNN/ ones. The shards must make one whole job: one
shard count, every index once, each finished (its summary.json, written
last), the same models (by digest of each export), input and settings; any
other is refused in one line. Then, shard after shard: every CSV's rows
under one header (predictions.csv, detections.csv, and any other a shard
wrote, such as picks.csv); every QuakeML catalog's events (detections.xml);
the first --max_figures station figures; and summary.json, whose counts and
skips are the shards' sums and whose `seconds` is their total machine time.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import shutil

from techtonics.core import fileio
from techtonics.core.errors import UserError
from techtonics.data import recordings
from techtonics.prediction import chunk_store, outputs, predictor, sharding

SUMMARY = "summary.json"
_JOINED_KEYS = ("_csv", "_xml")  # the summary keys naming the files merge joins; figures/ and summary apart


@dataclasses.dataclass(frozen=True)
class Finished:
    """One finished shard: its directory and summary."""

    directory: str
    summary: dict

    @property
    def index(self) -> int:
        return self.summary["shard"]["index"]

    @property
    def count(self) -> int:
        return self.summary["shard"]["count"]


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def shard_directories(directories: list[str]) -> list[str]:
    """The shards' directories: the shard-*-of-* inside those given, or those given themselves.

    A directory holding shards is expanded even when it holds an earlier
    merge's summary.json (the merge is run again). Refuses in one line a
    shard without summary.json (its task did not finish) and a directory
    that is neither a shard nor holds any.
    """
    found = []
    for directory in directories:
        if not fileio.isdir(directory):
            raise UserError(f"--merge={directory}: no such directory")
        is_shard = sharding.DIRECTORY.fullmatch(_basename(directory))
        inner = [] if is_shard else [_basename(n) for n in fileio.listdir(directory)]
        inner = [fileio.join(directory, n) for n in inner if sharding.DIRECTORY.fullmatch(n)]
        if not inner and not is_shard and not fileio.exists(fileio.join(directory, SUMMARY)):
            raise UserError(
                f"{directory}: neither a shard's output ({SUMMARY}) nor a directory of shard-*-of-* ones"
            )
        for shard in inner or [directory]:
            if not fileio.exists(fileio.join(shard, SUMMARY)):
                raise UserError(f"{shard}: an incomplete shard, no {SUMMARY} (did its task finish?)")
        found += inner or [directory]
    return found


def _read(directory: str) -> Finished:
    summary = fileio.read_json(fileio.join(directory, SUMMARY))
    if "shard" not in summary:
        raise UserError(
            f"{directory}/{SUMMARY}: names no shard (predicted by an older TECHTONICS); predict again"
        )
    return Finished(directory, summary)


def _digests(shard: Finished) -> list[str]:
    return [m["digest"] for m in shard.summary["model_ids"]]


def in_order(shards: list[Finished]) -> list[Finished]:
    """The shards by index, once each refused in one line unless they are every shard of one job."""
    first, by_index = shards[0], {}
    for shard in shards:
        if shard.count != first.count:
            raise UserError(
                f"{shard.directory} is shard {shard.index} of {shard.count} but {first.directory} one of "
                f"{first.count}: shards of different shard counts"
            )
        if shard.index in by_index:
            raise UserError(
                f"{by_index[shard.index].directory} and {shard.directory} are both shard {shard.index} "
                f"of {first.count}"
            )
        by_index[shard.index] = shard
    missing = [i for i in range(first.count) if i not in by_index]
    if missing:
        raise UserError(
            f"shard {missing[0]} of {first.count} is missing ({len(missing)} missing): "
            "give every shard to --merge"
        )
    ordered = [by_index[i] for i in range(first.count)]
    for shard in ordered[1:]:
        if _digests(shard) != _digests(ordered[0]):
            models = ", ".join(m["path"] for m in shard.summary["model_ids"])
            raise UserError(
                f"{shard.directory}: predicted with other models than {ordered[0].directory} ({models}); "
                "a merge joins the shards of one prediction"
            )
    return ordered


def merge(directories: list[str], output_dir: str) -> dict:
    """Joins finished shards' outputs into output_dir as one machine would have written them.

    directories: shard directories or directories holding them (see
    shard_directories). Holds output_dir and every shard (directory_lock),
    so neither a prediction nor another merge changes them meanwhile.
    Returns the joined summary, which is also printed as one line.
    """
    shards = [_read(d) for d in shard_directories(directories)]
    if not shards:
        raise UserError("--merge: give the shards' directories")
    shards = in_order(shards)
    if any(_same(s.directory, output_dir) for s in shards):
        raise UserError(f"--output_dir={output_dir}: is one of the shards; give another directory")
    fileio.check_writable(output_dir, "the merged predictions")
    with contextlib.ExitStack() as held:
        held.enter_context(fileio.directory_lock(output_dir, "a merge"))
        for shard in shards:
            held.enter_context(fileio.directory_lock(shard.directory, "a merge"))
        return _merge(shards, output_dir)


def _same(a: str, b: str) -> bool:
    """Whether two paths name one directory."""
    if fileio.is_remote(a) or fileio.is_remote(b):
        return a.rstrip("/") == b.rstrip("/")
    return os.path.realpath(a) == os.path.realpath(b)


def _merge(shards: list[Finished], output_dir: str) -> dict:
    """merge's work, once it holds the directories."""
    summary = _summary(shards, output_dir)
    if not summary["predictions"]:
        raise UserError(
            f"nothing to predict: every input was skipped ({predictor.reasons(summary['skipped'])})"
        )
    chunks = _chunk_paths(shards, summary) if "detecting" in summary else []  # checked before removing
    fileio.remove_temporaries(output_dir)
    fileio.rmtree(fileio.join(output_dir, "figures"))
    fileio.remove(fileio.join(output_dir, SUMMARY))
    if chunks:  # continuous: detections may span a shard's edge, so all is made anew
        summary.update(_from_chunks(shards, chunks, output_dir, summary))
    else:
        for name in _joined_files(shards):
            paths = [fileio.join(s.directory, name) for s in shards]
            (_join_csv if name.endswith(".csv") else _join_quakeml)(paths, fileio.join(output_dir, name))
        if "figures" in summary:
            summary["figures"] = _copy_figures(shards, output_dir, summary["settings"]["max_figures"])
    fileio.write_atomic(fileio.join(output_dir, SUMMARY), json.dumps(summary, indent=2) + "\n")
    print(
        f"merged {len(shards)} shards into {output_dir}: {summary['predictions']:,} predictions"
        + (f", {summary['detections']} detections" if "detections" in summary else "")
        + f" in {summary['seconds']:.1f} machine-seconds; skipped: {predictor.reasons(summary['skipped'])}"
    )
    return summary


def _chunk_paths(shards: list[Finished], summary: dict) -> list[str]:
    """Every chunk file of a continuous prediction's shards, in order; one line when the shards' chunks do
    not tile the plan or one is gone."""
    expected = 0
    for shard in shards:
        first, stop = shard.summary["chunks"]
        if first != expected:
            raise UserError(f"{shard.directory}: its chunks start at {first}, not {expected}: another plan's")
        expected = stop
    if expected != summary["shard"]["input_units"]:
        raise UserError(f"the shards' chunks end at {expected} of {summary['shard']['input_units']}")
    paths = []
    for shard in shards:
        directory = fileio.join(shard.directory, chunk_store.DIRECTORY)
        paths += [chunk_store.chunk_path(directory, i) for i in range(*shard.summary["chunks"])]
    gone = next((path for path in paths if not fileio.exists(path)), None)
    if gone:
        raise UserError(f"{gone}: a finished shard's chunk is missing; predict that shard again")
    return paths


def _from_chunks(shards: list[Finished], paths: list[str], output_dir: str, summary: dict) -> dict:
    """A continuous prediction's outputs made from its chunk files in order, as one run makes them
    (outputs.write_continuous)."""
    with fileio.open_file(fileio.join(shards[0].directory, "predictions.csv"), "r") as f:
        header = f.readline().rstrip("\n").split(",")
    identity, columns = header[:3], header[3:]  # station, window_start, gap_filled_s; then the models'
    written = outputs.write_continuous(
        paths, output_dir, identity, columns, outputs.Detecting(**summary["detecting"])
    )
    return {k: v for k, v in written.items() if k != "skipped"}  # the shards' summed skips are the run's


def _joined_files(shards: list[Finished]) -> list[str]:
    """The CSV and QuakeML files every shard's summary names; one line when the shards wrote different ones.

    Only what a summary names: another file in a shard's directory is not its run's.
    """
    names = [
        {_basename(path) for key, path in s.summary.items() if key.endswith(_JOINED_KEYS)} for s in shards
    ]
    for shard, wrote in zip(shards[1:], names[1:]):
        if wrote != names[0]:
            different = sorted(wrote ^ names[0])
            raise UserError(
                f"{shard.directory} and {shards[0].directory} differ in {', '.join(different)}: "
                "shards of different predictions"
            )
    return sorted(names[0])


def _summary(shards: list[Finished], output_dir: str) -> dict:
    """The shards' summaries as one: counts and skips summed, paths into output_dir, the rest agreed on."""
    first = shards[0].summary
    merged = {}
    for key, value in first.items():
        values = [s.summary.get(key) for s in shards]
        if key == "shard":
            _agree(shards, key, [{**v, "index": 0} for v in values])
            merged[key] = {**value, "index": 0, "count": 1, "merged_shards": len(shards)}
        elif key == "skipped":
            merged[key] = dict(sum((collections.Counter(v) for v in values), collections.Counter()))
        elif key.endswith(("_csv", "_xml")):  # a file's path in the shard's directory
            merged[key] = fileio.join(output_dir, _basename(value))
        elif key == "chunks":  # each shard's block of the plan: _from_chunks checks that they tile it
            merged[key] = [0, first["shard"]["input_units"]]
        elif key in ("model_ids", "figures", "predictions_per_second"):
            merged[key] = value  # checked by in_order; copied and counted below
        elif key == "seconds" or (isinstance(value, int) and not isinstance(value, bool)):
            merged[key] = sum(values)
        else:
            _agree(shards, key, values)
            merged[key] = value
    if "predictions_per_second" in merged:
        merged["predictions_per_second"] = merged["predictions"] / max(merged["seconds"], 1e-9)
    return merged


def _agree(shards: list[Finished], key: str, values: list) -> None:
    for shard, value in zip(shards[1:], values[1:]):
        if value != values[0]:
            raise UserError(
                f"{shard.directory}: {SUMMARY}'s {key} ({json.dumps(value)}) differs from "
                f"{shards[0].directory}'s ({json.dumps(values[0])}): shards of different predictions"
            )


def _join_csv(paths: list[str], path: str) -> None:
    """One header, then every file's rows in order, streamed; the header of the files that have rows.

    A shard without rows may write fewer columns (detections.csv names its
    estimates' columns after its events), so only the others' must agree.
    """
    headers, has_rows = [], []
    for source in paths:
        with fileio.open_file(source, "rb") as f:
            headers.append(f.readline())
            has_rows.append(bool(f.read(1)))
    full = [(source, h) for source, h, rows in zip(paths, headers, has_rows) if rows]
    for source, header in full[1:]:
        if header != full[0][1]:
            raise UserError(
                f"{source}: its columns differ from {full[0][0]}'s: shards of different predictions"
            )
    with fileio.atomic_output(path, "wb") as out:
        out.write(full[0][1] if full else headers[0])
        for source, rows in zip(paths, has_rows):
            if rows:
                with fileio.open_file(source, "rb") as f:
                    f.readline()
                    shutil.copyfileobj(f, out, 8 << 20)


def _join_quakeml(paths: list[str], path: str) -> None:
    """The first catalog with every other's events after its own, in order (ObsPy reads and writes them)."""
    obspy = recordings.import_obspy()
    catalog = obspy.read_events(paths[0])
    for source in paths[1:]:
        catalog.extend(obspy.read_events(source).events)
    with fileio.atomic_output(path, "wb") as out:
        catalog.write(out, format="QUAKEML")


def _copy_figures(shards: list[Finished], output_dir: str, max_figures: int) -> list[str]:
    """The first max_figures stations' figures across the shards, in order, into output_dir/figures/."""
    names = [(s.directory, _basename(p)) for s in shards for p in s.summary["figures"]][:max_figures]
    copied = []
    for directory, name in names:
        out_dir = fileio.join(output_dir, "figures")
        fileio.makedirs(out_dir)
        with fileio.open_file(fileio.join(directory, "figures", name), "rb") as f:
            copied.append(fileio.join(out_dir, name))
            fileio.write_atomic(copied[-1], f.read())
    return copied
