"""The benchmark's results: rows of figures with their baselines and goals, as JSON, Markdown and a chart."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time

import numpy as np

from techtonics.core import fileio


@dataclasses.dataclass
class Row:
    """One line of the results table; `key` names the figure in bench.json."""

    key: str
    name: str
    value: float
    unit: str
    baseline: str = ""
    ratio: float | None = None
    goal: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the ratio meets the goal (">= 0.8", "<= 1.1"); None without one."""
        if not self.goal or self.ratio is None:
            return None
        operator, bound = self.goal.split()
        return self.ratio >= float(bound) if operator == ">=" else self.ratio <= float(bound)


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| measurement | value | against | ratio | goal |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        goal = r.goal + {True: " (met)", False: " (missed)", None: ""}[r.met]
        value = f"{r.value:,.1f}" if abs(r.value) >= 10 else f"{r.value:.3f}"
        lines.append(f"| {r.name} | {f'{value} {r.unit}'.strip()} | {r.baseline} | {ratio} | {goal} |")
    return "\n".join(lines)


def profile_markdown(profile: list[dict]) -> str:
    """The input pipeline's stages (profile.profile_pipeline) as a Markdown table."""
    lines = [
        "| input pipeline stage (TensorFlow profiler) | depth | time | seconds | share of wall time |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {p['stage']} | {p['depth']} | {p['kind']} | {p['seconds']:.3f} | {p['share_of_wall']:.2f} |"
        for p in profile
    ]
    return "\n".join(lines)


def machine(gpus: list[str], tensorflow_version: str) -> dict:
    """What the figures were measured on."""
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    return {
        "host": os.uname().nodename,
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "gpus": gpus,
        "tensorflow": tensorflow_version,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def chart(names: list[str], ratios: list[float], goals: list[float], met: list[bool], path: str) -> str:
    """Each ratio as a bar (green: goal met, red: missed), its goal as a tick; a PNG at path."""
    # Imported here: the converter's writer processes import this module (conversion.py) and need no plotting.
    # A Figure without pyplot draws to files with no backend chosen and no global state.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 0.45 * len(names) + 1.2))
    ax = figure.subplots()
    y = np.arange(len(names))[::-1]
    ax.barh(y, ratios, color=["tab:green" if m else "tab:red" for m in met])
    ax.scatter(goals, y, marker="|", s=400, color="black", label="goal", zorder=3)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("ratio against the baseline (log scale)")
    ax.legend(loc="lower right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    fileio.write_atomic(path, buffer.getvalue())
    return path


def write(
    workdir: str, rows: list[Row], info: dict, profile: list[dict], scale_table: str, scale: list[dict]
) -> None:
    """bench.json, bench.md (the tables and the profile) and bench.png (every ratio against its goal)."""
    rows_json = [{**dataclasses.asdict(r), "met": r.met} for r in rows]
    report = {"machine": info, "rows": rows_json, "profile": profile, "scale": scale}
    fileio.write_atomic(fileio.join(workdir, "bench.json"), json.dumps(report, indent=2) + "\n")
    gpus = ", ".join(info["gpus"]) or "none"
    header = (
        f"Measured on {info['host']}: {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, "
        f"GPUs: {gpus}; TensorFlow {info['tensorflow']}; {info['date']}."
    )
    parts = [header, markdown(rows)] + ([profile_markdown(profile)] if profile else []) + [scale_table]
    fileio.write_atomic(fileio.join(workdir, "bench.md"), "\n\n".join(p for p in parts if p) + "\n")
    goals = [r for r in rows if r.goal]
    if goals:
        bounds = [float(r.goal.split()[1]) for r in goals]
        chart(
            [r.name for r in goals],
            [r.ratio for r in goals],
            bounds,
            [r.met for r in goals],
            fileio.join(workdir, "bench.png"),
        )
