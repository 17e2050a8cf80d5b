"""The pick-benchmark's evaluation targets: windows cut from a dataset's traces by the field's fixed rules.

SeisBench's pick-benchmark (Münchmeyer et al. 2022, "Which picker fits my
data?"; seisbench/pick-benchmark, benchmark/generate_eval_targets.py)
scores three tasks on windows of the dev and test splits:

- task 1 (task1.csv): does a 30 s window hold an earthquake? An event
  trace gives a window holding its first P or S, at least 100 samples from
  either edge, and, when that arrival is more than 30 s in, a noise window
  from before it; a trace without arrivals gives a noise window;
- tasks 2 and 3 (task23.csv): a 10 s window holding exactly one onset, at
  least 50 samples from either edge, of an arrival at least 0.5 s from its
  neighbours: is it P or S (task 2), and when (task 3)?

`generate` draws them as the field's generator does (its current version,
which keeps only dev and test traces and drops windows of 100 samples or
fewer), draw for draw: numpy's legacy generator seeded 42 for each file,
the dev and test traces in dataset order (`trace_idx` counts them, as the
field's filtered dataset does; every trace where the dataset has no
splits), arrivals from the columns of PHASES. On the same dataset it gives
the field's rows exactly, as written by its default invocation (a
sampling_rate of 100, so windows in whole samples).
`read` takes published targets instead (the field advises them for
comparability), and `check` keeps the rows a dataset can answer.
Everything is at 100 Hz, the models' rate: arrivals of a trace recorded at
another rate are scaled as SeisBench scales them when it resamples.

The dataset (data.py) names the splits: a SeisBench-format dataset by its
`split` column (SeisBench's STEAD: test is EQTransformer's published test
list, dev every 18th remaining trace); STEAD files by the converter's
splits (validation is dev), traces the converter did not select by none.
"""

from __future__ import annotations

import collections
import sys

import numpy as np
import pandas as pd

from techtonics.core import fileio
from techtonics.core.errors import UserError
from techtonics.data import stead

# The metadata columns that hold arrivals, and the phase each is (the field's phase_dict in
# benchmark/models.py); the full phase label is the name's middle part (p, Pg, Sn, ...).
PHASES = {
    **{
        f"trace_{name}_arrival_sample": "P"
        for name in ("p", "pP", "P", "P1", "Pg", "Pn", "PmP", "pwP", "pwPm")
    },
    **{f"trace_{name}_arrival_sample": "S" for name in ("s", "S", "S1", "Sg", "SmS", "Sn")},
}
SAMPLING_RATE_HZ = stead.SAMPLING_RATE_HZ  # the targets' rate: 100, as the field's default writes it
TRACE_COLUMNS = ["trace_name", "trace_idx", "trace_split", "sampling_rate", "start_sample", "end_sample"]
TASK1_COLUMNS = [*TRACE_COLUMNS, "trace_type"]
TASK23_COLUMNS = [*TRACE_COLUMNS, "phase_label", "full_phase_label", "phase_onset"]
COLUMNS = {"task1": TASK1_COLUMNS, "task23": TASK23_COLUMNS}
SPLITS = ("dev", "test")  # the splits the benchmark scores
SEED = 42

DETECTION_WINDOW_S, DETECTION_EDGE = 30, 100  # task 1: window length, samples kept clear of its edges
ONSET_WINDOW_S, ONSET_EDGE = 10, 50  # tasks 2 and 3
ONSET_SPACING_S = 0.5  # tasks 2 and 3: an onset this near another cannot be isolated
SHORTEST_WINDOW = 100  # samples: a window no longer than this (at a trace's end) is dropped


def _window(rng: np.random.RandomState, npts, length, containing=None, edge: int = DETECTION_EDGE):
    """(start, end) of a window of `length` samples in a trace of npts, drawn from rng, holding sample
    `containing` at least `edge` samples from both ends (any window when None); the whole trace when it
    is no longer than the window or no such window exists."""
    if npts <= length:
        return 0, npts
    if containing is None:
        first, last = 0, npts - length
    else:
        first, last = max(0, containing - length + edge), min(npts - length, containing - edge)
        if last <= first:
            return 0, npts
    start = rng.randint(first, last + 1)
    return start, start + length


def _arrivals(trace, npts) -> list[tuple[float, str, str]]:
    """The trace's (onset, phase, full phase label) inside it, in time order."""
    found = []
    for column, phase in PHASES.items():
        onset = trace.get(column, np.nan)
        if not np.isnan(onset) and 0 <= onset < npts:
            found.append((onset, phase, column.split("_")[1]))
    return sorted(found)


def _detection_rows(traces: pd.DataFrame, noise_before_events: bool) -> list[dict]:
    rng = np.random.RandomState(SEED)
    length = DETECTION_WINDOW_S * SAMPLING_RATE_HZ
    rows = []
    for trace in traces.to_dict("records"):
        npts = int(trace["samples"])
        row = {c: trace[c] for c in ("trace_name", "trace_idx", "trace_split")}
        row["sampling_rate"] = SAMPLING_RATE_HZ
        arrivals = _arrivals(trace, npts)
        if not arrivals:
            start, end = _window(rng, npts, length)
            rows.append({**row, "start_sample": start, "end_sample": end, "trace_type": "noise"})
            continue
        first = arrivals[0][0]
        start, end = _window(rng, npts, length, containing=first)
        if end - start <= length:
            rows.append({**row, "start_sample": start, "end_sample": end, "trace_type": "earthquake"})
        if noise_before_events and first > length:
            start, end = _window(rng, min(npts, first), length)
            if end - start <= length:
                rows.append({**row, "start_sample": start, "end_sample": end, "trace_type": "noise"})
    return rows


def _onset_rows(traces: pd.DataFrame) -> list[dict]:
    rng = np.random.RandomState(SEED)
    length = ONSET_WINDOW_S * SAMPLING_RATE_HZ
    spacing = int(ONSET_SPACING_S * SAMPLING_RATE_HZ)
    rows = []
    for trace in traces.to_dict("records"):
        npts = int(trace["samples"])
        arrivals = _arrivals(trace, npts)
        for i, (onset, phase, full_phase) in enumerate(arrivals):
            # The span the window may cover: clear of the neighbours by the spacing.
            after = int(arrivals[i + 1][0]) - spacing if i + 1 < len(arrivals) else np.inf
            before = int(arrivals[i - 1][0]) + spacing if i else 0
            if after - before < length or before > onset or after < onset:
                continue
            after = min(after, npts)
            start, end = _window(rng, after - before, length, containing=onset - before, edge=ONSET_EDGE)
            start, end = start + before, end + before
            if end - start <= length:
                rows.append(
                    {
                        **{c: trace[c] for c in ("trace_name", "trace_idx", "trace_split")},
                        "sampling_rate": SAMPLING_RATE_HZ,
                        "start_sample": start,
                        "end_sample": end,
                        "phase_label": phase,
                        "full_phase_label": full_phase,
                        "phase_onset": onset,
                    }
                )
    return rows


def generate(traces: pd.DataFrame, noise_before_events: bool = True) -> dict[str, pd.DataFrame]:
    """{"task1": rows, "task23": rows} of the dev and test traces, in the field's columns and draws.

    traces: the dataset's traces in dataset order (data.Dataset.traces):
    trace_name, trace_split ("" everywhere when the dataset has no splits:
    then every trace), samples (the trace's length at 100 Hz) and the
    PHASES columns it has, at 100 Hz.
    noise_before_events: also cut noise from before a late first arrival
    (the field's default).
    """
    if (traces.trace_split != "").any():
        traces = traces[traces.trace_split.isin(SPLITS)]
    traces = traces.assign(trace_idx=np.arange(len(traces)))
    made = {
        "task1": pd.DataFrame(_detection_rows(traces, noise_before_events), columns=TASK1_COLUMNS),
        "task23": pd.DataFrame(_onset_rows(traces), columns=TASK23_COLUMNS),
    }
    return {
        task: rows[rows.end_sample - rows.start_sample > SHORTEST_WINDOW].reset_index(drop=True)
        for task, rows in made.items()
    }


def write(targets: dict[str, pd.DataFrame], directory: str) -> None:
    """task1.csv and task23.csv into directory, each atomically."""
    fileio.makedirs(directory)
    for task, rows in targets.items():
        with fileio.atomic_output(fileio.join(directory, f"{task}.csv"), "w") as f:
            rows.to_csv(f, index=False)


def read(directory: str) -> dict[str, pd.DataFrame]:
    """The targets in directory (task1.csv, task23.csv; either may be absent, not both).

    A file without the field's columns is refused in one line naming it and the columns.
    """
    targets = {}
    for task, columns in COLUMNS.items():
        path = fileio.join(directory, f"{task}.csv")
        if not fileio.exists(path):
            continue
        try:
            with fileio.open_file(path, "rb") as f:
                rows = pd.read_csv(f, dtype={"trace_name": str, "trace_split": str}, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: not a readable CSV ({str(e).splitlines()[0]})") from None
        missing = [c for c in columns if c not in rows.columns]
        if missing:
            raise UserError(f"{path}: not pick-benchmark targets: no column {', '.join(missing)}")
        targets[task] = rows
    if not targets:
        raise UserError(f"{directory}: holds neither task1.csv nor task23.csv")
    return targets


def check(rows: pd.DataFrame, traces: pd.DataFrame, where: str, skipped: collections.Counter) -> pd.DataFrame:
    """The rows (of a targets file at `where`) that the dataset's traces can answer, numbers as numbers,
    with the trace's `file` and `samples`; every other row is counted in skipped, by reason, and the first
    of each reason named in one warning line."""
    known = traces.drop_duplicates("trace_name").set_index("trace_name")[["file", "samples"]]
    joined = rows.join(known, on="trace_name")
    for column in ("start_sample", "end_sample", "sampling_rate", "phase_onset"):
        if column in joined:
            joined[column] = pd.to_numeric(joined[column], errors="coerce").astype(np.float64)
    start, end = joined.start_sample, joined.end_sample
    reasons = {
        "trace_not_in_dataset": joined["file"].isna(),
        "sampling_rate_not_100_hz": ~np.isclose(joined.sampling_rate, SAMPLING_RATE_HZ),
        "window_outside_trace": ~((start >= 0) & (end > start) & (end <= joined["samples"])),
        "window_not_in_whole_samples": (start % 1 != 0) | (end % 1 != 0),
    }
    if "trace_type" in joined:  # task 1
        reasons["unknown_trace_type"] = ~joined.trace_type.isin(["earthquake", "noise"])
    else:  # tasks 2 and 3
        reasons["unknown_phase_label"] = ~joined.phase_label.isin(["P", "S"])
        reasons["onset_outside_window"] = ~((joined.phase_onset >= start) & (joined.phase_onset < end))
    bad = np.zeros(len(rows), bool)
    for reason, mask in reasons.items():
        mask = np.asarray(mask, bool) & ~bad
        if mask.any():
            i = int(mask.argmax())
            print(
                f"warning: {where}: row {i + 2} (trace {rows.trace_name.iloc[i]}): "
                f"{reason.replace('_', ' ')}; skipping {int(mask.sum())} such rows",
                file=sys.stderr,
            )
            skipped[reason] += int(mask.sum())
        bad |= mask
    kept = joined[~bad].copy()
    for column in ("file", "start_sample", "end_sample"):
        kept[column] = kept[column].astype(np.int64)
    return kept
