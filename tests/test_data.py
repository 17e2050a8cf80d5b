"""The input pipeline: every example once, labels from the schema, normalisation, bad input."""

import dataclasses
import json
import math
import shutil

import numpy as np
import pytest
import tensorflow as tf
from test_convert import read_records

from techtonics.conversion import converter, plan
from techtonics.data import records, splits, stead
from techtonics.data.converted import ConvertedDataset
from techtonics.testing import mixing
from techtonics.training import input_pipeline, tasks

CLASSIFICATION = tasks.get("classification")


def _names(ds) -> list[str]:
    return [name.decode() for batch in ds for name in batch["trace_name"].numpy()]


@pytest.fixture(scope="module")
def expected(tiny_records) -> dict:
    """Every record of every split, decoded independently of the pipeline."""
    return read_records(tiny_records)


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_one_pass_reads_each_example_exactly_once(tiny_records, expected, task, split):
    source = ConvertedDataset(str(tiny_records))
    config = input_pipeline.InputConfig(batch_size=16)
    ds, steps = input_pipeline.split_dataset(source, split, config, tasks.get(task), training=False)
    names = _names(ds)
    wanted = [
        r["trace_name"].decode()
        for r in expected[split]
        if task == "classification"
        or (r["label"] == stead.EARTHQUAKE_CLASS and np.isfinite(r["source_magnitude"]))
    ]
    assert sorted(names) == sorted(wanted) and len(set(names)) == len(names)
    assert len(names) == tasks.get(task).example_count(source, split)
    assert steps == math.ceil(len(names) / 16)


def test_labels_and_waveforms_come_from_the_records(tiny_records, expected):
    by_name = {r["trace_name"].decode(): r for r in expected["validation"]}
    ds, _ = input_pipeline.split_dataset(
        ConvertedDataset(str(tiny_records)),
        "validation",
        input_pipeline.InputConfig(batch_size=8),
        CLASSIFICATION,
        training=False,
    )
    for batch in ds:
        for i, name in enumerate(batch["trace_name"].numpy()):
            record = by_name[name.decode()]
            assert batch["y"][i] == record["label"]
            np.testing.assert_array_equal(batch["waveform"][i].numpy(), record["waveform"])


def test_regression_labels_are_normalised_with_the_train_statistics(tiny_records, expected):
    source = ConvertedDataset(str(tiny_records))
    mean, std = source.normalization("source_distance_km")
    train = [r["source_distance_km"] for r in expected["train"] if r["label"] == stead.EARTHQUAKE_CLASS]
    assert mean == pytest.approx(np.mean(train), rel=1e-5) and std == pytest.approx(np.std(train), rel=1e-5)
    config, task = input_pipeline.InputConfig(batch_size=8), tasks.get("regression", "source_distance_km")
    ds, _ = input_pipeline.split_dataset(source, "train", config, task, training=False)
    labels = np.concatenate([batch["y"].numpy()[:, 0] for batch in ds])
    raw = np.concatenate([batch["source_distance_km"].numpy() for batch in ds])
    np.testing.assert_allclose(labels, (raw - mean) / std, rtol=1e-5, atol=1e-6)
    assert abs(labels.mean()) < 1e-4 and labels.std() == pytest.approx(1.0, rel=1e-3)


def test_training_epochs_are_full_shuffled_batches_without_repeats(tiny_records, expected):
    source = ConvertedDataset(str(tiny_records))
    config = input_pipeline.InputConfig(batch_size=10, deterministic=True)
    read = dict(training=True, seed=5)
    ds, steps = input_pipeline.split_dataset(source, "train", config, CLASSIFICATION, **read)
    batches = list(ds.take(2 * steps))
    assert all(len(b["y"]) == 10 for b in batches)  # drop_remainder: equal steps on every replica
    # Training batches carry no names: an example is known by its waveform.
    name_of = {r["waveform"].tobytes(): r["trace_name"] for r in expected["train"]}
    first = [name_of[w.tobytes()] for b in batches[:steps] for w in b["waveform"].numpy()]
    second = [name_of[w.tobytes()] for b in batches[steps:] for w in b["waveform"].numpy()]
    assert len(set(first)) == len(first) == steps * 10  # no example twice within an epoch
    assert first != second  # reshuffled every epoch
    again, _ = input_pipeline.split_dataset(source, "train", config, CLASSIFICATION, **read)
    assert [name_of[w.tobytes()] for b in again.take(steps) for w in b["waveform"].numpy()] == first  # seeded


def test_cache_to_a_file_gives_the_same_examples(tiny_records, tmp_path):
    source = ConvertedDataset(str(tiny_records))
    plain, _ = input_pipeline.split_dataset(
        source,
        "test",
        input_pipeline.InputConfig(batch_size=8),
        CLASSIFICATION,
        training=False,
    )
    cached_config = input_pipeline.InputConfig(batch_size=8, cache=str(tmp_path / "cache"))
    cached, _ = input_pipeline.split_dataset(source, "test", cached_config, CLASSIFICATION, training=False)
    assert _names(cached) == _names(plain) == _names(cached)  # the second pass reads the cache
    assert list(tmp_path.glob("cache*"))


def test_auto_shard_policy_follows_the_shard_count(tiny_records):
    source = ConvertedDataset(str(tiny_records))
    shards = len(source.files("validation"))
    policy = tf.data.experimental.AutoShardPolicy
    for workers, expected_policy in ((shards, policy.FILE), (shards + 1, policy.DATA)):
        config = input_pipeline.InputConfig()
        ds = input_pipeline.dataset(
            source, "validation", config, CLASSIFICATION, training=False, input_pipelines=workers
        )
        assert ds.options().experimental_distribute.auto_shard_policy == expected_policy


@pytest.fixture(scope="module")
def two_shard_records(tiny_stead, tmp_path_factory):
    """tiny_stead with 90 training traces in 2 shards of 45."""
    directory = tmp_path_factory.mktemp("two_shards")
    split = splits.SplitConfig(validation_fraction=0.2, test_fraction=0.2, seed=1)
    pairs = tuple(stead.find_pairs(str(tiny_stead)))
    config = plan.ConvertConfig(pairs, str(directory), split=split, min_shards=2, processes=1)
    converter.convert(config, progress=False)
    return ConvertedDataset(str(directory))


@pytest.mark.parametrize("workers, policy", [(2, "FILE"), (3, "DATA")])
def test_workers_together_read_every_training_example_once_per_epoch(
    two_shard_records, expected, workers, policy, caplog
):
    # 2 shards of 45: FILE gives each of 2 workers one shard; 3 workers get every 3rd example of both.
    config = input_pipeline.InputConfig(batch_size=5 * workers)
    creator, steps = input_pipeline.training_input(two_shard_records, config, CLASSIFICATION, seed=3)
    assert steps == 90 // (5 * workers)
    waveform_name = {r["waveform"].tobytes(): r["trace_name"].decode() for r in expected["train"]}
    seen = {epoch: [] for epoch in range(2)}
    for worker in range(workers):
        ds = creator(tf.distribute.InputContext(workers, worker, num_replicas_in_sync=workers))
        batches = list(ds.take(2 * steps))
        assert all(len(label) == 5 for _, label in batches)  # per-replica batches
        for i, (waveforms, _) in enumerate(batches):
            seen[i // steps] += [waveform_name[w.tobytes()] for w in waveforms.numpy()]
    for names in seen.values():
        assert sorted(names) == sorted(waveform_name.values())  # every example once, across the workers
    assert ("DATA sharding" in caplog.text) == (policy == "DATA")


def test_the_tf_data_service_serves_the_training_batches(tiny_records, expected):
    dispatcher = tf.data.experimental.service.DispatchServer()
    worker = tf.data.experimental.service.WorkerServer(
        tf.data.experimental.service.WorkerConfig(dispatcher_address=dispatcher.target.split("://")[1])
    )
    config = input_pipeline.InputConfig(batch_size=10, data_service=dispatcher.target, deterministic=True)
    source = ConvertedDataset(str(tiny_records))
    creator, steps = input_pipeline.training_input(source, config, CLASSIFICATION, seed=0)
    waveform_name = {r["waveform"].tobytes(): r["trace_name"].decode() for r in expected["train"]}
    names = [
        waveform_name[w.tobytes()]
        for waveforms, _ in creator(tf.distribute.InputContext()).take(steps)
        for w in waveforms.numpy()
    ]
    assert len(set(names)) == len(names) == steps * 10  # one epoch, no example twice
    assert worker._num_tasks() == 1  # the batches came from the service's worker
    worker.stop()
    dispatcher.stop()


@pytest.fixture
def records_copy(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    return copy


def _edit_manifest(directory, edit):
    path = directory / records.MANIFEST_NAME
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda d: (d / records.MANIFEST_NAME).unlink(), "no such manifest"),
        (lambda d: _edit_manifest(d, lambda m: m.update(schema_version=1)), "schema version 1"),
        (lambda d: _edit_manifest(d, lambda m: m["splits"].pop("test")), "the test split is empty"),
        (
            lambda d: next(d.glob("test-00001-*")).unlink(),
            "test-00001-of-00004.tfrecord: shard listed in the manifest is missing",
        ),
    ],
    ids=["missing-manifest", "old-schema", "empty-split", "missing-shard"],
)
def test_bad_records_are_one_line_errors(records_copy, breakage, message):
    breakage(records_copy)
    with pytest.raises(ValueError, match=message) as error:
        source = ConvertedDataset(str(records_copy))
        input_pipeline.split_dataset(
            source, "test", input_pipeline.InputConfig(), CLASSIFICATION, training=False
        )
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"batch_size": 0}, "--batch_size=0"),
        ({"data_service": "dispatcher"}, "--data_service_address=dispatcher: use grpc://HOST:PORT"),
    ],
)
def test_bad_input_config(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(input_pipeline.InputConfig(), **change)


def test_a_batch_larger_than_the_split_is_an_error(tiny_records):
    with pytest.raises(ValueError, match="fewer than one batch of 1000"):
        input_pipeline.split_dataset(
            ConvertedDataset(str(tiny_records)),
            "train",
            input_pipeline.InputConfig(batch_size=1000),
            CLASSIFICATION,
            training=True,
        )


def _mixing_of(stead_dir, out) -> dict:
    """The class mixing of one training epoch, with shards much larger than a tiny shuffle buffer."""
    config = plan.ConvertConfig(
        pairs=tuple(stead.find_pairs(str(stead_dir))),
        output_dir=str(out),
        split=splits.SplitConfig(seed=2),
        min_shards=2,
        processes=1,
    )
    converter.convert(config, progress=False)
    source = ConvertedDataset(str(out))
    labels = mixing.epoch_labels(
        source, input_pipeline.InputConfig(batch_size=4, shuffle_buffer=4, parallel_reads=2)
    )
    assert len(labels) == source.count("train") // 4 * 4
    return mixing.class_mixing(labels, window=12, batch=4)


def test_training_stream_mixes_classes_from_noise_first_files(tiny_stead, tmp_path, monkeypatch):
    # tiny_stead holds its 60 noise traces first (chunk1), like STEAD.
    mixed = _mixing_of(tiny_stead, tmp_path / "mixed")
    assert mixed["std_ratio"] < 1.6 and mixed["batch_min"] >= 0.0
    # The same check fails for shards written in file order (the converter before schema 3).
    plan_shards = plan.plan_shards

    def file_order(assignment, config):
        return [dataclasses.replace(s, rows=np.sort(s.rows)) for s in plan_shards(assignment, config)]

    monkeypatch.setattr(plan, "plan_shards", file_order)
    ordered = _mixing_of(tiny_stead, tmp_path / "ordered")
    assert ordered["std_ratio"] > 2.5 and ordered["window_min"] == 0.0
