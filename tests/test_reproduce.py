"""The reproduction's report: every row the original reported, beside this project's figure."""

import re

from conftest import REPO

from techtonics import reproduce


def _metrics(run: str) -> dict:
    if run.startswith("classifier"):
        names = ("accuracy", "precision", "recall", "f1", "roc_auc")
        return {
            "task": "classification",
            "examples": 1000,
            **dict(zip(names, (0.97, 0.96, 0.95, 0.955, 0.99))),
        }
    return {"task": "regression", "mse": 12345.6, "rmse": 111.1, "units": "samples", "target_std": 170.0}


def test_every_row_the_original_reported_is_in_the_table():
    reported = (REPO / "docs" / "ORIGINAL.md").read_text()
    tasks = "classification|magnitude regression|P-arrival regression"
    rows = re.findall(rf"^\| ({tasks}) \| [^|]+ \| ([^|]+) \|$", reported, re.MULTILINE)
    assert len(rows) == 5
    table = reproduce.results_table({run: _metrics(run) for run in reproduce.RUNS}, 10_000)
    for _, figure in rows:
        assert figure.split(" ")[0] in table, figure
    assert "12,346" in table and "0.9700" in table  # MSE in samples^2 as a whole number; accuracy to 4 places
    assert len(table.splitlines()) == 2 + len(reproduce.ROWS)


def test_results_page_holds_the_table_the_figures_and_says_the_data_is_synthetic(tmp_path):
    model_dirs = {}
    for run in reproduce.RUNS:
        evaluation = tmp_path / "models" / run / "eval" / "test"
        evaluation.mkdir(parents=True)
        (evaluation / "roc.png").write_bytes(b"png")
        model_dirs[run] = str(tmp_path / "models" / run)
    figure = tmp_path / "synthetic_vs_stead.png"
    figure.write_bytes(b"png")
    page = tmp_path / "docs" / "RESULTS.md"
    page.parent.mkdir()
    results = {run: _metrics(run) for run in reproduce.RUNS}
    reproduce.write_results(results, model_dirs, str(figure), str(page), traces=10_000, seed=3)
    text = page.read_text()
    assert "**The data here is synthetic**" in text and "--traces=10000 --seed=3" in text
    assert reproduce.results_table(results, 10_000) in text
    for run in reproduce.RUNS:
        assert (page.parent / "results" / run / "roc.png").read_bytes() == b"png"
        assert f"(results/{run}/roc.png)" in text
    assert (page.parent / "results" / "synthetic_vs_stead.png").exists()
