"""The reproduction's report: every row the original reported, beside this project's figure."""

import re
import subprocess
import sys

from conftest import REPO

from techtonics.data import stead
from techtonics.experiments import reproduction
from techtonics.synthetic import generator

OFFSETS_S = [1.0, 5.0, 15.0, 30.0, 45.0]


def _metrics(run: str, mse: float = 12345.6) -> dict:
    if run.startswith("classifier"):
        names = ("accuracy", "precision", "recall", "f1", "roc_auc")
        return {
            "task": "classification",
            "examples": 1000,
            **dict(zip(names, (0.97, 0.96, 0.95, 0.955, 0.99))),
            "p_offset": {"offsets_s": OFFSETS_S, "recall": [0.5, 0.9, 0.8, 0.0625, 0.01]},
        }
    return {
        "task": "regression",
        "mse": mse,
        "rmse": 111.1,
        "units": "samples",
        "target_std": 170.0,
        "p_offset": {"offsets_s": OFFSETS_S, "mae": [1.0, 2.0, 3.0, 4321.0, 5.0]},
    }


def test_every_row_the_original_reported_is_in_the_table():
    reported = (REPO / "docs" / "ORIGINAL.md").read_text()
    tasks = "classification|magnitude regression|P-arrival regression"
    rows = re.findall(rf"^\| ({tasks}) \| [^|]+ \| ([^|]+) \|$", reported, re.MULTILINE)
    assert len(rows) == 5
    table = reproduction.results_table({run: _metrics(run) for run in reproduction.RUNS}, 10_000)
    for _, figure in rows:
        assert figure.split(" ")[0] in table, figure
    assert "12,346" in table and "0.9700" in table  # MSE in samples^2 as a whole number; accuracy to 4 places
    assert len(table.splitlines()) == 2 + len(reproduction.ROWS) + 1  # and the magnitude seeds' spread
    assert "| 0.0625 |" in table and "| 4,321 |" in table  # rows of P placed 30 s into the window


def test_the_seed_row_gives_the_median_range_and_farthest_seed():
    seeds = reproduction.MAGNITUDE_SEED_RUNS
    assert len(seeds) == 5 and all(run in reproduction.RUNS for run in seeds)
    results = {run: _metrics(run, mse) for run, mse in zip(seeds, (0.10, 0.12, 0.13, 0.14, 0.16))}
    row = reproduction.seed_spread(results)
    assert "| 0.1300 (0.1000-0.1600) |" in row and "every seed within 23% of the median" in row


def test_results_page_holds_the_table_the_figures_and_says_the_data_is_synthetic(tmp_path):
    model_dirs = {}
    for run in reproduction.RUNS:
        evaluation = tmp_path / "models" / run / "eval" / "test"
        evaluation.mkdir(parents=True)
        (evaluation / "roc.png").write_bytes(b"png")
        model_dirs[run] = str(tmp_path / "models" / run)
    figure = tmp_path / "synthetic_vs_stead.png"
    figure.write_bytes(b"png")
    page = tmp_path / "docs" / "RESULTS.md"
    page.parent.mkdir()
    results = {run: _metrics(run) for run in reproduction.RUNS}
    reproduction.write_results(results, model_dirs, str(figure), str(page), traces=10_000, seed=3)
    text = page.read_text()
    assert "**The data here is synthetic**" in text and "--traces=10000 --seed=3" in text
    assert reproduction.results_table(results, 10_000) in text
    for run in reproduction.RUNS:
        assert (page.parent / "results" / run / "roc.png").read_bytes() == b"png"
        assert f"(results/{run}/roc.png)" in text
    assert (page.parent / "results" / "synthetic_vs_stead.png").exists()


def test_comparison_figure_draws_the_written_stead(tmp_path, real_metadata_csv):
    pairs = generator.write_synthetic_stead(str(tmp_path / "stead"), earthquakes=40, noise=10, processes=1)
    real_rows = stead.read_metadata(str(real_metadata_csv))
    figure = reproduction.comparison_figure(pairs, str(tmp_path), seed=0, real_rows=real_rows)
    assert (
        figure.endswith("synthetic_vs_stead.png") and (tmp_path / "synthetic_vs_stead.png").stat().st_size > 0
    )


def test_the_figure_module_leaves_matplotlib_as_it_found_it():
    # No pyplot and no backend chosen at import: the process that imports it may draw elsewhere.
    probe = "import sys, techtonics.experiments.figures; sys.exit('matplotlib.pyplot' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], cwd=REPO).returncode == 0


def test_bad_destination_or_real_rows_fail_in_one_line_before_any_run(tmp_path):
    for flag, message in (
        (f"--results={tmp_path}/a_file/RESULTS.md", "cannot write the results there"),
        (f"--real_metadata={tmp_path}/missing.csv", "missing.csv: no such file"),
    ):
        (tmp_path / "a_file").write_text("not a directory")
        command = [sys.executable, "-m", "techtonics.reproduce", f"--output_dir={tmp_path}/work", flag]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
        assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith("error: ")
        assert message in done.stderr and not (tmp_path / "work").exists()
