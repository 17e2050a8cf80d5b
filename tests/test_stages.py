"""The stages the demo and the reproduction run: generate and convert resume; metrics read in one line."""

from techtonics.experiments import stages


def test_generate_then_convert_resume(tmp_path, capsys):
    stead_dir, records_dir = str(tmp_path / "stead"), str(tmp_path / "records")
    pairs = stages.generate(stead_dir, earthquakes=30, noise=20, seed=1)
    written = {p.hdf5: (tmp_path / "stead" / f"{p.name}.hdf5").stat().st_mtime_ns for p in pairs}
    assert stages.generate(stead_dir, earthquakes=999, noise=999, seed=2) == pairs
    assert "already in" in capsys.readouterr().out
    assert {p.hdf5: (tmp_path / "stead" / f"{p.name}.hdf5").stat().st_mtime_ns for p in pairs} == written
    manifest = stages.to_records(pairs, records_dir, seed=1)
    assert sum(split["count"] for split in manifest["splits"].values()) == 50  # each trace in one split
    assert sum(split["class_counts"]["noise"] for split in manifest["splits"].values()) == 20
    assert stages.to_records(pairs, records_dir, seed=1)["splits"] == manifest["splits"]


def test_describe_gives_the_headline_metrics():
    classification = {"task": "classification", "accuracy": 0.9712, "precision": 0.98, "recall": 0.97,
                      "f1": 0.975, "roc_auc": 0.995}  # fmt: skip
    assert stages.describe(classification).startswith("accuracy 0.971, precision 0.980")
    regression = {"task": "regression", "rmse": 0.25, "units": "magnitude", "target_std": 0.9, "mae": 0.2,
                  "r2": 0.92}  # fmt: skip
    assert stages.describe(regression) == "RMSE 0.250 magnitude (target std 0.900), MAE 0.200, R^2 0.920"
