"""The benchmark report: goals are judged against the measured ratios."""

from techtonics import bench


def test_markdown_marks_met_and_missed_goals():
    table = bench.markdown([
        bench.Row("conversion", 900.0, "traces/s", "h5py read", 0.5, ">= 0.8"),
        bench.Row("peak RSS", 550.0, "MB", "2,000 traces", 1.05, "<= 1.1"),
        bench.Row("h5py read", 1800.0, "traces/s"),
    ])  # fmt: skip
    lines = table.splitlines()
    assert lines[0].startswith("| measurement |") and len(lines) == 5
    assert "| 0.50 | >= 0.8 (missed) |" in lines[2]
    assert "| 1.05 | <= 1.1 (met) |" in lines[3]
    assert lines[4].endswith("|  |  |  |") and "1,800.0 traces/s" in lines[4]


def test_pipeline_and_training_measurements_run_on_tiny_records(tiny_stead, tiny_records):
    pairs = bench.stead.find_pairs(str(tiny_stead))
    rates = bench.pipeline_rates(pairs, str(tiny_records), batch_size=8)
    assert set(rates) == {"raw", "pipeline", "generator"} and all(r > 0 for r in rates.values())
    fed, memory = bench.training_rates(str(tiny_records), "classification", False, batch_size=8, steps=2)
    assert fed > 0 and memory > 0
