"""Prediction across machines: every input's shards merged equal one machine's outputs; bad shards refused."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import obspy
import pytest
from conftest import REPO

from techtonics.core import errors, options
from techtonics.data import stead
from techtonics.data.converted import ConvertedDataset
from techtonics.prediction import inputs, merge, predictor, sharding
from techtonics.testing import seisbench_format
from techtonics.testing.exports import export_untrained

# What differs between a merge and one machine's run: timings and the shard itself; paths are compared apart.
VARYING = {"seconds", "predictions_per_second", "shard"}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("models")
    return [
        export_untrained(str(root / "classification" / "export"), "classification", seed=1),
        export_untrained(str(root / "magnitude" / "export"), "regression", seed=2),
    ]


def _predict(models_, output_dir, source, **values) -> dict:
    values = {"progress": False, "batch_size": 16, **values}
    config = options.build(predictor.PredictConfig, values, models=tuple(models_), output_dir=str(output_dir))
    return predictor.predict(config, source)


def _one_and_merged(tmp_path, models_, make_source, count=3, **values):
    """(one machine's output directory, count shards' merged) for make_source(shard) -> Source."""
    _predict(models_, tmp_path / "one", make_source(sharding.WHOLE), **values)
    for index in range(count):
        shard = sharding.Shard(index, count)
        _predict(models_, shard.output_dir(str(tmp_path / "sharded")), make_source(shard), **values)
    # As the README says: the shards' parent directory is merged into itself.
    merge.merge([str(tmp_path / "sharded")], str(tmp_path / "sharded"))
    return tmp_path / "one", tmp_path / "sharded"


def _assert_same_outputs(one, merged, files) -> tuple[dict, dict]:
    """The files equal byte for byte, the summaries in all but VARYING; returns both summaries."""
    for name in files:
        assert (merged / name).read_bytes() == (one / name).read_bytes(), name
    a, b = (json.loads((d / "summary.json").read_text()) for d in (one, merged))
    paths = {k for k in a if k.endswith(("_csv", "_xml"))} | ({"figures"} & a.keys())
    same = VARYING | paths
    assert {k: v for k, v in a.items() if k not in same} == {k: v for k, v in b.items() if k not in same}
    assert b["shard"] == {**a["shard"], "merged_shards": 3} and list(a) == list(b)
    for key in paths:  # the same files, in the merge's directory
        names = [[os.path.basename(p) for p in np.atleast_1d(s[key])] for s in (a, b)]
        assert names[0] == names[1] and all(str(merged) in p for p in np.atleast_1d(b[key])), key
    return a, b


@pytest.fixture(scope="module")
def stead_runs(tiny_stead, models, tmp_path_factory):
    pairs = stead.find_pairs(str(tiny_stead))
    root = tmp_path_factory.mktemp("stead")
    return _one_and_merged(root, models, lambda shard: inputs.stead_source(pairs, shard=shard))


def test_three_stead_shards_merged_equal_one_machine(stead_runs):
    one, merged = stead_runs
    a, b = _assert_same_outputs(one, merged, ["predictions.csv"])
    assert a["predictions"] == 150 and b["shard"]["merged_shards"] == 3 and b["shard"]["input_units"] == 150
    # The 60 + 90 traces of two files make blocks of 50: the first shard's ends inside the first file.
    shard_rows = [
        (merged / f"shard-0000{i}-of-00003" / "predictions.csv").read_text().count("\n") - 1 for i in range(3)
    ]
    assert shard_rows == [50, 50, 50]


def test_three_seisbench_shards_merged_equal_one_machine(tiny_stead, models, tmp_path):
    pairs = stead.find_pairs(str(tiny_stead))
    dataset = seisbench_format.stead_copy(pairs, str(tmp_path / "seisbench"), block_size=32)
    config = options.build(inputs.SourceConfig, {"seisbench_dir": dataset})
    one, merged = _one_and_merged(tmp_path, models, lambda shard: config.source(10.0, False, shard))
    a, _ = _assert_same_outputs(one, merged, ["predictions.csv"])
    assert a["predictions"] == 150 and a["shard"]["input"] == "seisbench"


def test_three_record_shards_merged_equal_one_machine(tiny_records, models, tmp_path):
    one, merged = _one_and_merged(
        tmp_path, models, lambda shard: inputs.records_source(str(tiny_records), "test", shard)
    )
    _assert_same_outputs(one, merged, ["predictions.csv"])
    # The test split's 4 record files go 2, 1, 1 to the shards.
    counts = ConvertedDataset(str(tiny_records)).file_counts("test")
    shards = [json.loads((merged / f"shard-0000{i}-of-00003" / "summary.json").read_text()) for i in range(3)]
    assert [s["predictions"] for s in shards] == [sum(counts[:2]), counts[2], counts[3]]


def _station(path, station, components="ENZ", seconds=150, seed=0):
    rng = np.random.default_rng(seed)
    traces = [
        obspy.Trace(
            rng.normal(0, 50 + 10 * seed, seconds * 100).astype(np.float32),
            {"network": "SY", "station": station, "channel": f"HH{c}", "sampling_rate": 100.0},
        )
        for c in components
    ]
    obspy.Stream(traces).write(str(path), format="MSEED")


def test_three_waveform_shards_merged_equal_one_machine_even_with_an_empty_shard(models, tmp_path):
    arrivals = export_untrained(
        str(tmp_path / "p_arrival" / "export"), "regression", 3, target="p_arrival_sample"
    )
    (tmp_path / "in").mkdir()
    for seed, station in enumerate("ABCD"):
        _station(tmp_path / "in" / f"{station}.mseed", station, seed=seed)
    _station(tmp_path / "in" / "E.mseed", "E", components="Z")  # skipped: the classifier needs E and N
    (tmp_path / "in" / "notes.txt").write_text("not a recording\n")  # skipped by every shard, counted once
    paths = [str(tmp_path / "in")]
    # Stations A-E (a station-day each) in 3 shards: A, B | C, D | E, the last with nothing to predict.
    one, merged = _one_and_merged(
        tmp_path,
        [*models, arrivals],  # picks.csv too
        lambda shard: inputs.waveforms_source(paths, 10.0, False, shard),
        threshold=0.01,  # an untrained classifier's probabilities: every station has a detection
        max_figures=3,
    )
    files = ["predictions.csv", "detections.csv", "detections.xml", "picks.csv"]
    a, b = _assert_same_outputs(one, merged, files)
    assert a["detections"] == 4 and a["skipped"] == {"station_day_missing_EN": 1, "unreadable_file": 1}
    assert [os.path.basename(p) for p in b["figures"]] == ["SY.A..HH.png", "SY.B..HH.png", "SY.C..HH.png"]
    assert sorted(os.listdir(merged / "figures")) == sorted(os.listdir(one / "figures"))
    empty = json.loads((merged / "shard-00002-of-00003" / "summary.json").read_text())
    assert empty["predictions"] == 0 and empty["detections"] == 0


def test_a_shard_takes_a_contiguous_block_and_the_blocks_make_the_whole():
    for units in (0, 1, 5, 150):
        for count in (1, 3, 7):
            blocks = [sharding.Shard(i, count).take(list(range(units))) for i in range(count)]
            assert (
                sum(blocks, []) == list(range(units)) and max(map(len, blocks)) - min(map(len, blocks)) <= 1
            )
            # The same units in three files: of 2, of none, and the rest.
            groups = [list(range(min(units, 2))), [], list(range(2, units))]
            grouped = [sharding.Shard(i, count).take_grouped(groups) for i in range(count)]
            assert all(len(g) == 3 for g in grouped)
            assert [u for g in grouped for group in g for u in group] == list(range(units))


def test_a_slurm_array_task_is_its_place_in_the_array():
    array = {"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "7"}
    stepped = {**array, "SLURM_ARRAY_TASK_STEP": "2", "SLURM_ARRAY_TASK_ID": "5"}  # --array=1-7:2
    assert sharding.slurm_shard(stepped) == sharding.Shard(2, 4)
    assert sharding.slurm_shard({}) == sharding.WHOLE
    with pytest.raises(
        errors.UserError, match=r"^Slurm array task 5: the array's 4 task ids \(1 to 7, step 1\)"
    ):
        sharding.slurm_shard({**array, "SLURM_ARRAY_TASK_ID": "5"})  # --array=1,2,5,7: not a range
    config = options.build(sharding.ShardConfig, {"slurm_shards": True})
    assert config.shard({**stepped, "SLURM_ARRAY_TASK_ID": "1"}) == sharding.Shard(0, 4)
    # Only when asked: an array whose tasks each predict everything is not cut into shards.
    assert options.build(sharding.ShardConfig, {}).shard(stepped) == sharding.WHOLE
    with pytest.raises(errors.UserError, match="--slurm_shards: not in a Slurm array task"):
        config.shard({})
    assert options.build(sharding.ShardConfig, {"num_shards": 2, "shard_index": 1}).shard(
        stepped
    ) == sharding.Shard(1, 2)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"num_shards": 3, "shard_index": 3}, r"--shard_index=3: outside the 3 shards \(0 to 2\)"),
        ({"num_shards": 3, "shard_index": -1}, r"--shard_index=-1: outside the 3 shards \(0 to 2\)"),
        ({"num_shards": 0, "shard_index": 0}, r"--num_shards=0: must be at least 1"),
        ({"num_shards": 3}, r"give --num_shards and --shard_index together"),
        (
            {"merge": ("d",), "num_shards": 2, "shard_index": 0},
            r"--merge joins finished shards: give it without",
        ),
    ],
)
def test_bad_shard_flags_are_one_line(values, message):
    with pytest.raises(errors.UserError, match=f"^{message}"):
        options.build(sharding.ShardConfig, values)


def test_a_merge_with_an_input_or_model_is_refused():
    config = options.build(sharding.ShardConfig, {"merge": ("d",)})
    source = options.build(inputs.SourceConfig, {"records": "r", "split": "train"})
    with pytest.raises(
        errors.UserError, match=r"give no input or model with it \(got --records, --split, --model\)$"
    ):
        config.check_job(source, ["m"])
    config.check_job(options.build(inputs.SourceConfig, {}), [])


def test_the_command_line_refuses_a_shard_outside_the_shards_in_one_line(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "techtonics.predict",
            "--model=m",
            f"--output_dir={tmp_path}",
            f"--stead_dir={tmp_path}",
            "--num_shards=4",
            "--shard_index=4",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == (
        "error: --shard_index=4: outside the 4 shards (0 to 3)"
    )


def _copy(stead_runs, tmp_path):
    """The STEAD shards, copied to be broken."""
    sharded = tmp_path / "sharded"
    shutil.copytree(stead_runs[1], sharded, ignore=shutil.ignore_patterns("*.csv", "summary.json", ".*"))
    for i in range(3):
        name = f"shard-0000{i}-of-00003"
        shutil.copytree(stead_runs[1] / name, sharded / name, dirs_exist_ok=True)
    return sharded


def test_a_merge_over_different_models_is_refused(stead_runs, models, tiny_stead, tmp_path):
    sharded = _copy(stead_runs, tmp_path)
    shard = sharding.Shard(1, 3)
    pairs = stead.find_pairs(str(tiny_stead))
    _predict([models[0]], sharded / shard.name, inputs.stead_source(pairs, shard=shard))
    with pytest.raises(
        errors.UserError,
        match=r"00001-of-00003: predicted with other models than .*00000-of-00003 \(.*/export\)",
    ):
        merge.merge([str(sharded)], str(tmp_path / "out"))
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_a_missing_duplicated_unfinished_or_foreign_shard_is_refused(stead_runs, tmp_path):
    sharded = _copy(stead_runs, tmp_path)
    shards = [str(sharded / f"shard-0000{i}-of-00003") for i in range(3)]
    out = str(tmp_path / "out")
    with pytest.raises(errors.UserError, match=r"^shard 1 of 3 is missing \(1 missing\)"):
        merge.merge([shards[0], shards[2]], out)
    with pytest.raises(errors.UserError, match=r"shard-00001-of-00003 and .*copy are both shard 1 of 3$"):
        shutil.copytree(shards[1], tmp_path / "copy")
        merge.merge([*shards, str(tmp_path / "copy")], out)
    summary = json.loads((sharded / "shard-00002-of-00003" / "summary.json").read_text())
    summary["shard"]["count"] = 4
    (tmp_path / "copy" / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(
        errors.UserError,
        match=r"copy is shard 2 of 4 but .*00000-of-00003 one of 3: shards of different shard counts$",
    ):
        merge.merge([*shards, str(tmp_path / "copy")], out)
    os.remove(sharded / "shard-00002-of-00003" / "summary.json")
    with pytest.raises(errors.UserError, match=r"shard-00002-of-00003: an incomplete shard, no summary.json"):
        merge.merge([str(sharded)], out)
    assert not os.path.exists(os.path.join(out, "predictions.csv"))
