"""The field's pick-benchmark: targets drawn by its rules, label-blind inputs, its metrics, and the command's
files, on tiny synthetic STEAD in both formats."""

import collections
import contextlib
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from techtonics.benchmark import data, metrics, run, scoring, targets
from techtonics.conversion import plan
from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.data import seisbench, splits, stead
from techtonics.prediction import predictor
from techtonics.testing import seisbench_format
from techtonics.testing.exports import export_untrained

P, S = "trace_p_arrival_sample", "trace_s_arrival_sample"


def _traces(*rows) -> pd.DataFrame:
    """A hand-built dataset: (samples, P, S) per trace, named t0, t1, ..., split test."""
    return pd.DataFrame(
        [
            {
                "trace_name": f"t{i}",
                "trace_idx": i,
                "trace_split": "test",
                "samples": n,
                P: p,
                S: s,
                "file": 0,
            }
            for i, (n, p, s) in enumerate(rows)
        ]
    )


def test_targets_are_the_fields_draws_on_a_hand_built_dataset():
    traces = _traces(
        (6000, np.nan, np.nan),  # noise: any 30 s window
        (6000, 500.0, 900.0),  # P too near S for task 2/3; S isolated
        (6000, 4000.0, 4030.0),  # first arrival after 30 s: also noise before it; P and S 0.3 s apart
        (2000, 1000.0, np.nan),  # shorter than the window: the whole trace
        (6000, 7000.0, np.nan),  # an arrival outside the trace is none: noise
        (6000, 5900.0, 5990.0),  # P too late for a window; S's span is 50 samples: too short, dropped
    )
    made = targets.generate(traces)
    # Task 1, by hand: one generator seeded 42, a draw per window in dataset order.
    rng = np.random.RandomState(42)
    noise = rng.randint(0, 3001)
    first_b = rng.randint(0, 401)  # P at 500: start in [max(0, 500 - 3000 + 100), min(3000, 500 - 100)]
    first_c = rng.randint(1100, 3001)  # P at 4000: [4000 - 2900, min(3000, 3900)]
    before_c = rng.randint(0, 1001)  # noise from the 4000 samples before P
    last_noise = rng.randint(0, 3001)
    before_late = rng.randint(0, 2901)  # noise from the 5900 samples before the late P
    expected = [
        ("t0", noise, noise + 3000, "noise"),
        ("t1", first_b, first_b + 3000, "earthquake"),
        ("t2", first_c, first_c + 3000, "earthquake"),
        ("t2", before_c, before_c + 3000, "noise"),
        ("t3", 0, 2000, "earthquake"),
        ("t4", last_noise, last_noise + 3000, "noise"),
        ("t5", before_late, before_late + 3000, "noise"),
    ]
    task1 = made["task1"]
    assert list(task1.columns) == targets.TASK1_COLUMNS
    assert list(zip(task1.trace_name, task1.start_sample, task1.end_sample, task1.trace_type)) == expected
    # Task 2/3: t1's P is too near its S for a 10 s span, t2's P and S 0.3 s apart; t1's S and t3's P stand.
    rng = np.random.RandomState(42)
    s_start = 550 + rng.randint(0, 301)  # S at 900 in the span [550, 6000): 350 in, 50 from the edges
    p_start = rng.randint(50, 951)  # P at 1000 in [0, 2000)
    task23 = made["task23"]
    assert list(task23.columns) == targets.TASK23_COLUMNS
    assert task23[
        ["trace_name", "start_sample", "end_sample", "phase_label", "full_phase_label"]
    ].values.tolist() == [
        ["t1", s_start, s_start + 1000, "S", "s"],
        ["t3", p_start, p_start + 1000, "P", "p"],
    ]
    assert task23.phase_onset.tolist() == [900.0, 1000.0] and (task23.sampling_rate == 100.0).all()


def test_made_targets_keep_their_rules(tiny_stead, tiny_records):
    dataset = data.from_stead(tuple(stead.find_pairs(str(tiny_stead))), str(tiny_records), splits_needed=True)
    made = targets.generate(dataset.traces)
    first = dataset.traces.set_index("trace_name")[[P, S]].min(axis=1)
    task1 = made["task1"].join(first.rename("first"), on="trace_name")
    quake = task1[task1.trace_type == "earthquake"]
    assert (quake["first"] >= quake.start_sample + 100).all() and (
        quake["first"] < quake.end_sample - 100
    ).all()
    noise = task1[task1.trace_type == "noise"]
    assert (
        (noise["first"] >= noise.end_sample) | noise["first"].isna()
    ).all()  # no arrival in a noise window
    assert (task1.end_sample - task1.start_sample == 3000).all()
    task23 = made["task23"]
    assert len(task23) and ((task23.phase_onset - task23.start_sample) >= 50).all()
    assert ((task23.end_sample - task23.phase_onset) >= 50).all()
    assert set(task1.trace_split) == {"dev", "test"}  # the field's generator draws over these alone
    in_split = dataset.traces[dataset.traces.trace_split.isin(["dev", "test"])].trace_name.tolist()
    assert task1.trace_name.iloc[task1.trace_idx.drop_duplicates().index].tolist() == [
        in_split[i] for i in task1.trace_idx.drop_duplicates()
    ]


@pytest.fixture(scope="module")
def seisbench_copy(tiny_stead, tiny_records, tmp_path_factory):
    """tiny_stead in SeisBench's format, its split column the converter's (validation as dev)."""
    pairs = tuple(stead.find_pairs(str(tiny_stead)))
    split_of = data.converter_splits(pairs, str(tiny_records))
    return seisbench_format.stead_copy(
        list(pairs), str(tmp_path_factory.mktemp("seisbench")), split_of=split_of, block_size=16
    )


def test_both_formats_give_the_same_targets(tiny_stead, tiny_records, seisbench_copy):
    from_stead = targets.generate(
        data.from_stead(tuple(stead.find_pairs(str(tiny_stead))), str(tiny_records), True).traces
    )
    from_seisbench = targets.generate(
        data.from_seisbench(tuple(seisbench.find_chunks(seisbench_copy))).traces
    )
    for task in targets.COLUMNS:
        a, b = from_stead[task], from_seisbench[task]
        assert len(a) and a.drop(columns="trace_name").equals(b.drop(columns="trace_name")), task
        assert b.trace_name.str.contains(r"\$").all()  # SeisBench's own names, as the field's targets hold


def test_converter_splits_are_the_benchmarks(tiny_stead, tiny_records):
    pairs = tuple(stead.find_pairs(str(tiny_stead)))
    split_of = data.converter_splits(pairs, str(tiny_records))
    planned = plan.build(
        plan.ConvertConfig(
            pairs=pairs,
            output_dir="x",
            split=splits.SplitConfig(validation_fraction=0.2, test_fraction=0.2, seed=1),
        )
    )
    assert collections.Counter(split_of.values()) == collections.Counter(
        data.BENCHMARK_SPLIT[s] for s in planned.assignment
    )
    assert all(
        split_of[n] == data.BENCHMARK_SPLIT[s] for n, s in zip(planned.meta.trace_name, planned.assignment)
    )


def _in_memory(waveforms: dict[str, np.ndarray]) -> data.Dataset:
    """A dataset of whole traces held in memory."""
    traces = pd.DataFrame(
        {"trace_name": list(waveforms), "samples": [len(w) for w in waveforms.values()], "file": 0}
    )
    return data.Dataset(
        "memory",
        traces,
        lambda file, names: contextlib.nullcontext(),
        lambda _, n: waveforms[n],
        collections.Counter(),
    )


def _rows(*windows, trace="quake", trace_type="noise") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trace_name": trace,
            "start_sample": [w[0] for w in windows],
            "end_sample": [w[1] for w in windows],
            "trace_type": trace_type,
            "file": 0,
        }
    )


def test_a_detection_window_is_read_alone_whatever_its_label():
    trace = np.random.default_rng(0).normal(5.0, 1.0, (6000, 3)).astype(np.float32)
    trace[4000:] += 1000.0  # an event after the window
    dataset = _in_memory({"quake": trace})
    read = []
    for label in ("noise", "earthquake"):
        batches, first = scoring.windows(
            dataset, _rows((500, 3500), trace_type=label), True, 8, collections.Counter()
        )
        ((waveform, positions),) = list(batches)
        read.append(waveform.numpy()[0])
    assert np.array_equal(read[0], read[1])  # label-blind: the same input for either label
    offset = 500 - int(first[0])  # the window sits in the middle of the input
    assert offset == 1500
    window = trace[500:3500] - trace[500:3500].mean(axis=0)
    assert np.allclose(read[0][offset : offset + 3000], window, atol=1e-4)
    # Around it, the window mirrored: nothing of the event after it.
    assert np.allclose(read[0][:offset], window[:offset][::-1], atol=1e-4)
    assert np.allclose(read[0][offset + 3000 :], window[::-1][:offset], atol=1e-4)
    assert np.abs(read[0]).max() < 10.0


def test_an_onset_window_reads_its_centred_context_and_picks_inside_it():
    trace = np.arange(12000 * 3, dtype=np.float32).reshape(12000, 3)
    dataset = _in_memory({"quake": trace})
    batches, first = scoring.windows(
        dataset, _rows((100, 1100), (9000, 10000)), False, 8, collections.Counter()
    )
    ((waveform, positions),) = list(batches)
    near_start, late = waveform.numpy()
    assert first.tolist() == [-2400, 6500]
    assert not near_start[:2400].any() and np.array_equal(near_start[2400:], trace[:3600])  # zeros before 0
    assert np.array_equal(late, trace[6500:12500][: 12000 - 6500].tolist() + [[0, 0, 0]] * 500)


def test_a_pickers_scores_come_from_inside_the_window():
    probabilities = np.zeros((1, 100, 3))
    probabilities[..., 2] = 1.0
    probabilities[0, 10] = [0.9, 0.0, 0.1]  # outside the window: ignored
    probabilities[0, 30] = [0.6, 0.1, 0.3]
    probabilities[0, 50] = [0.0, 0.2, 0.8]
    scores = scoring._window_scores(probabilities, np.array([20]), np.array([60]))
    assert scores["score_detection"][0] == pytest.approx(0.7) and scores["score_p_or_s"][0] == pytest.approx(
        3.0
    )
    assert scores["p_sample_pred"][0] == 30 and scores["s_sample_pred"][0] == 50


def test_metrics_match_hand_computed_values():
    dev1 = pd.DataFrame(
        {
            "trace_type": ["earthquake", "earthquake", "noise", "noise"],
            "score_detection": [0.9, 0.7, 0.6, 0.1],
        }
    )
    test1 = pd.DataFrame(
        {"trace_type": ["earthquake", "earthquake", "noise"], "score_detection": [0.8, 0.7, 0.2]}
    )
    stats = metrics.detection(dev1, test1)
    # Dev separates at 0.7 (F1 1); test applies "score > 0.7", as the field does: one of two earthquakes.
    assert stats["det_threshold"] == 0.7 and stats["dev_det_f1"] == 1.0 and stats["dev_det_auc"] == 1.0
    assert stats["test_det_precision"] == 1.0 and stats["test_det_recall"] == 0.5
    assert stats["test_det_f1"] == pytest.approx(2 / 3) and stats["test_det_auc"] == 1.0

    def rows(labels, onsets, picks_p, picks_s, scores):
        return pd.DataFrame(
            {
                "phase_label": labels,
                "phase_onset": onsets,
                "sampling_rate": 100.0,
                "p_sample_pred": picks_p,
                "s_sample_pred": picks_s,
                "score_p_or_s": scores,
            }
        )

    dev = rows(
        ["P", "P", "S", "S"],
        [1000, 2000, 3000, 4000],
        [1010, 1990, 0, 0],
        [0, 0, 3030, 4030],
        [3, 2, 0.5, 0.2],
    )
    test = rows(["P", "S"], [1000, 3000], [1020, 0], [0, 2990], [4.0, 0.1])
    stats = metrics.phase_and_onset(dev, test)
    assert stats["dev_phase_mcc"] == 1.0 and stats["test_phase_mcc"] == 1.0 and stats["test_phase_f1"] == 1.0
    assert stats["dev_P_mean_s"] == pytest.approx(0.0) and stats["dev_P_std_s"] == pytest.approx(0.1)
    assert stats["dev_P_mae_s"] == pytest.approx(0.1) and stats["dev_S_mean_s"] == pytest.approx(0.3)
    assert stats["test_P_mae_s"] == pytest.approx(0.2) and stats["test_S_mean_s"] == pytest.approx(-0.1)
    # A model that picks only P: no task 2, no S figures (not NaN ones).
    p_only = metrics.phase_and_onset(
        dev.assign(s_sample_pred=np.nan, score_p_or_s=np.nan),
        test.assign(s_sample_pred=np.nan, score_p_or_s=np.nan),
    )
    assert set(p_only) == {f"{s}_P_{m}_s" for s in ("dev", "test") for m in ("mean", "std", "mae")}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "classification": export_untrained(str(root / "classification" / "export"), "classification", seed=1),
        "p_arrival": export_untrained(
            str(root / "p_arrival" / "export"), "regression", target="p_arrival_sample"
        ),
        "magnitude": export_untrained(str(root / "magnitude" / "export"), "regression"),
        "picking": export_untrained(str(root / "picking" / "export"), "picking"),
    }


def test_a_picker_scores_alike_on_one_device_and_across_two_replicas(exports):
    rng = np.random.default_rng(3)
    dataset = _in_memory({f"t{k}": rng.normal(0.0, 1.0, (9000, 3)).astype(np.float32) for k in range(5)})
    rows = pd.concat([_rows((1000 + 300 * k, 2000 + 300 * k), trace=f"t{k}") for k in range(5)])
    rows = rows.reset_index(drop=True)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    scored = {}
    for name, strategy in (
        ("one", tf.distribute.get_strategy()),
        ("two", tf.distribute.MirroredStrategy(devices)),
    ):
        scorer = predictor.Predictor([exports["picking"]], strategy, batch_size=8, per_sample=True)
        (scored[name],) = scoring.score(scorer, dataset, rows, False, 8, collections.Counter())
    assert (
        len(scored["one"]) == 5
        and scored["one"].p_sample_pred.between(rows.start_sample, rows.end_sample).all()
    )
    pd.testing.assert_frame_equal(scored["one"], scored["two"], rtol=1e-5)


def _benchmark(models, output_dir, **values):
    config = options.build(
        run.BenchmarkConfig, {"batch_size": 16, **values}, models=tuple(models), output_dir=str(output_dir)
    )
    return run.run(config)


def test_the_command_writes_the_fields_files(seisbench_copy, exports, tmp_path, capsys):
    summary = _benchmark(exports.values(), tmp_path, seisbench_dir=seisbench_copy)
    assert "source_magnitude answers none" in capsys.readouterr().err  # it answers no task, and says so
    made = targets.read(str(tmp_path / "targets"))
    for split in targets.SPLITS:
        task1 = pd.read_csv(tmp_path / "classification" / f"{split}_task1.csv")
        assert list(task1.columns) == targets.TASK1_COLUMNS + scoring.PREDICTION_COLUMNS
        expected = made["task1"][made["task1"].trace_split == split]
        assert task1.trace_name.tolist() == expected.trace_name.tolist()  # every target once, in order
        assert task1.score_detection.between(0, 1).all() and task1.p_sample_pred.isna().all()
        onsets = pd.read_csv(tmp_path / "p_arrival" / f"{split}_task23.csv")
        assert len(onsets) == (made["task23"].trace_split == split).sum()
        assert onsets.p_sample_pred.between(onsets.start_sample, onsets.end_sample - 1).all()
        assert onsets.score_detection.isna().all() and onsets.s_sample_pred.isna().all()
    for split in targets.SPLITS:  # the picker answers every task from inside each window
        for task_file in ("task1", "task23"):
            picked = pd.read_csv(tmp_path / "picking" / f"{split}_{task_file}.csv")
            assert picked.score_detection.between(0, 1).all() and (picked.score_p_or_s > 0).all()
            for column in ("p_sample_pred", "s_sample_pred"):
                assert picked[column].between(picked.start_sample, picked.end_sample - 1).all()
    assert not (tmp_path / "classification" / "dev_task23.csv").exists()
    assert not (tmp_path / "magnitude").exists()
    stats = json.loads((tmp_path / "classification" / "benchmark.json").read_text())
    assert {"test_det_auc", "test_det_f1", "det_threshold", "dev_det_precision"} <= set(stats)
    assert {"test_P_mae_s", "test_P_std_s", "dev_P_mean_s"} <= set(
        json.loads((tmp_path / "p_arrival" / "benchmark.json").read_text())
    )
    assert (tmp_path / "classification" / "roc.png").exists() and (
        tmp_path / "p_arrival" / "onset_residuals.png"
    ).exists()
    table = (tmp_path / "benchmark.md").read_text()
    assert (
        table.splitlines()[0] == "| metric | classification | p_arrival | picking |"
        and "| test_det_auc |" in table
    )
    assert "test_phase_mcc" in json.loads((tmp_path / "picking" / "benchmark.json").read_text())
    assert summary["skipped"] == {"model_answering_no_task": 1}  # the magnitude regressor
    assert json.loads((tmp_path / "summary.json").read_text())["models"]

    # The same targets given back score the same.
    again = tmp_path / "again"
    _benchmark(
        [exports["classification"]], again, seisbench_dir=seisbench_copy, targets=str(tmp_path / "targets")
    )
    for split in targets.SPLITS:
        name = f"classification/{split}_task1.csv"
        assert (again / name).read_bytes() == (tmp_path / name).read_bytes()


def test_bad_targets_are_named_counted_and_the_rest_scored(seisbench_copy, exports, tmp_path, capsys):
    made = targets.generate(data.from_seisbench(tuple(seisbench.find_chunks(seisbench_copy))).traces)
    task1 = made["task1"].copy()
    dev = np.flatnonzero(task1.trace_split == "dev")
    task1.loc[dev[0], "trace_name"] = "no_such_trace"
    task1.loc[dev[1], "sampling_rate"] = 50.0
    task1.loc[dev[2], "end_sample"] = 99999
    given = tmp_path / "given"
    targets.write({"task1": task1}, str(given))
    summary = _benchmark(
        [exports["classification"]], tmp_path / "out", seisbench_dir=seisbench_copy, targets=str(given)
    )
    assert summary["skipped"] == {
        "trace_not_in_dataset": 1,
        "sampling_rate_not_100_hz": 1,
        "window_outside_trace": 1,
    }
    err = capsys.readouterr().err
    assert f"row {dev[0] + 2} (trace no_such_trace): trace not in dataset" in err
    scored = pd.read_csv(tmp_path / "out" / "classification" / "dev_task1.csv")
    assert len(scored) == len(dev) - 3

    task1.drop(columns="trace_type").to_csv(given / "task1.csv", index=False)
    with pytest.raises(UserError, match=r"task1.csv: not pick-benchmark targets: no column trace_type"):
        _benchmark(
            [exports["classification"]], tmp_path / "out", seisbench_dir=seisbench_copy, targets=str(given)
        )
    made["task1"].assign(trace_split="train").to_csv(given / "task1.csv", index=False)
    with pytest.raises(UserError, match="no targets to score"):
        _benchmark(
            [exports["classification"]], tmp_path / "out", seisbench_dir=seisbench_copy, targets=str(given)
        )
    assert "no dev or test rows the dataset holds" in capsys.readouterr().err


def test_stead_input_needs_the_converted_splits(tiny_stead, exports, tmp_path):
    with pytest.raises(UserError, match="--records=DIR"):
        _benchmark([exports["classification"]], tmp_path, stead_dir=str(tiny_stead))
    with pytest.raises(UserError, match="answers a benchmark task"):
        _benchmark([exports["magnitude"]], tmp_path, stead_dir=str(tiny_stead))


def test_picker_labels_are_gaussians_at_the_arrivals_and_follow_the_shift():
    from techtonics.training import augmentation, picking, tasks

    task = tasks.get("picking")
    features = {
        "waveform": tf.random.stateless_normal([3, *stead.WAVEFORM_SHAPE], [1, 2]),
        "label": tf.constant([1, 1, 0]),
        "p_arrival_sample": tf.constant([900.0, 1200.0, np.nan]),
        "s_arrival_sample": tf.constant([1500.0, np.nan, np.nan]),
        "coda_end_sample": tf.constant([3000.0, 3000.0, np.nan]),
    }
    labels = task.label(features, (0.0, 1.0)).numpy()
    assert labels.shape == (3, 6000, 3) and np.allclose(labels.sum(axis=-1), 1.0)
    assert labels[0, :, 0].argmax() == 900 and labels[0, :, 1].argmax() == 1500
    assert labels[0, 900 + int(picking.SIGMA_SAMPLES), 0] == pytest.approx(np.exp(-0.5), abs=1e-3)
    assert not labels[1, :, 1].any() and np.all(labels[2, :, 2] == 1.0)  # no S; a noise trace is noise
    shift = augmentation.AugmentConfig(shift=1.0, shift_min_s=30.0, shift_max_s=30.0)
    moved = augmentation.augment(features, tf.constant([0, 0], tf.int64), shift)
    labels = task.label(moved, (0.0, 1.0)).numpy()
    assert labels[0, :, 0].argmax() == 3000 and labels[0, :, 1].argmax() == 3600  # P at 30 s, S with it


def test_traces_longer_than_60_s_and_other_rates_are_indexed_whole(exports, tmp_path):
    # INSTANCE-like: 120 s traces, one recorded at 50 Hz; the targets index the whole trace at 100 Hz.
    ramp = np.arange(12000, dtype=np.float32)
    traces = [
        np.stack([ramp, ramp + 1, ramp + 2]),
        np.stack([ramp[:6000]] * 3),
        np.ones((3, 12000)),
        np.ones((3, 12000)),
    ]
    metadata = pd.DataFrame(
        {
            "trace_name": ["long", "slow", "quiet", "calm"],
            "trace_sampling_rate_hz": [100.0, 50.0, 100.0, 100.0],
            P: [8000.0, 4000.0, np.nan, np.nan],
            S: [9500.0, np.nan, np.nan, np.nan],
            "trace_category": ["earthquake_local", "earthquake_local", "noise", "noise"],
            "split": ["test", "dev", "test", "dev"],
        }
    )
    directory = str(tmp_path / "instance")
    seisbench_format.write_chunk(directory, metadata, traces, seisbench_format.STEAD_FORMAT, block_size=1)
    dataset = data.from_seisbench(tuple(seisbench.find_chunks(directory)))
    assert dataset.traces.samples.tolist() == [12000] * 4 and dataset.traces[P].tolist()[:2] == [
        8000.0,
        8000.0,
    ]
    made = targets.generate(dataset.traces)
    quake = made["task1"][made["task1"].trace_type == "earthquake"]
    assert ((quake.start_sample + 100 <= 8000) & (quake.end_sample - 100 > 8000)).all() and len(quake) == 2
    assert (made["task1"].end_sample <= 12000).all() and len(made["task1"]) == 6  # noise before both P too
    onsets = made["task23"]
    assert sorted(onsets.phase_onset.tolist()) == [8000.0, 8000.0, 9500.0]
    # The input is the trace's own samples around the window, wherever it lies in the trace.
    late = onsets[onsets.phase_onset == 9500.0]
    batches, first = scoring.windows(dataset, late.assign(file=0), False, 4, collections.Counter())
    ((waveform, _),) = list(batches)
    begin = int(first[0])
    expected = ramp[begin : begin + 6000]
    np.testing.assert_array_equal(waveform.numpy()[0, : len(expected), 2], expected)  # Z is the ramp itself
    assert not waveform.numpy()[0, len(expected) :].any()  # zeros after the trace's end
    _benchmark([exports["picking"]], tmp_path / "out", seisbench_dir=directory)
    picked = pd.read_csv(tmp_path / "out" / "picking" / "test_task23.csv")
    assert picked.p_sample_pred.between(picked.start_sample, picked.end_sample - 1).all()
    assert (picked.start_sample > 6000).all()


@pytest.mark.slow
def test_the_picker_trained_on_tiny_data_picks_p_within_0_2_s(tiny_records, seisbench_copy, tmp_path):
    # 90 training traces, scored as the field scores: the onset's 10 s windows of the test split.
    from techtonics.training import trainer

    values = {"task": "picking", "epochs": 40, "batch_size": 8, "learning_rate": 3e-3, "seed": 1}
    config = options.build(trainer.TrainConfig, values, records=str(tiny_records), evaluate_split="none")
    trainer.train_and_evaluate(config, str(tmp_path / "picker"))
    _benchmark([str(tmp_path / "picker" / "export")], tmp_path / "scores", seisbench_dir=seisbench_copy)
    stats = json.loads((tmp_path / "scores" / "picker" / "benchmark.json").read_text())
    assert stats["test_P_mae_s"] <= 0.2, stats


def test_odd_values_in_a_targets_file_are_skipped_by_reason(seisbench_copy):
    dataset = data.from_seisbench(tuple(seisbench.find_chunks(seisbench_copy)))
    made = targets.generate(dataset.traces)
    # As a targets file read back may hold them: text where numbers go, a start between samples.
    onsets = made["task23"].astype({"phase_onset": object, "sampling_rate": object, "start_sample": float})
    onsets.loc[0, "phase_onset"] = "abc"
    onsets.loc[1, "phase_label"] = "X"
    onsets.loc[2, "sampling_rate"] = "abc"
    onsets.loc[3, "start_sample"] = onsets.loc[3, "start_sample"] + 0.5
    skipped = collections.Counter()
    kept = targets.check(onsets, dataset.traces, "task23.csv", skipped)
    assert skipped == {
        "onset_outside_window": 1,
        "unknown_phase_label": 1,
        "sampling_rate_not_100_hz": 1,
        "window_not_in_whole_samples": 1,
    }
    assert len(kept) == len(onsets) - 4 and kept.phase_onset.dtype == np.float64
    assert kept.start_sample.dtype == np.int64
    stats = metrics.phase_and_onset(
        kept.assign(p_sample_pred=kept.phase_onset, s_sample_pred=np.nan, score_p_or_s=np.nan),
        kept.assign(p_sample_pred=kept.phase_onset, s_sample_pred=np.nan, score_p_or_s=np.nan),
    )
    assert stats["test_P_mae_s"] == 0.0
    header_only = targets.check(onsets.head(0), dataset.traces, "task23.csv", collections.Counter())
    assert header_only.empty
