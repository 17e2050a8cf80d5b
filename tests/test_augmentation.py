"""Augmentation of training batches: labels follow the shift, exposed stretches are noise, draws are seeded,
only training is augmented, and bad probabilities are one line."""

import numpy as np
import pytest
import tensorflow as tf

from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.data import stead
from techtonics.data.converted import ConvertedDataset
from techtonics.training import augmentation, input_pipeline, step, tasks

SAMPLES = stead.TRACE_SAMPLES
P, S = 600, 1500


def _batch(count=8, noise_traces=2, seed=0) -> dict:
    """Earthquakes with a spike at P and S over low noise, then noise traces; their targets."""
    rng = np.random.default_rng(seed)
    waveform = rng.normal(0, 1.0, (count, SAMPLES, 3)).astype(np.float32)
    quakes = count - noise_traces
    waveform[:quakes, P] += 1000.0
    waveform[:quakes, S] += 500.0
    known = np.arange(count) < quakes
    return {
        "waveform": tf.constant(waveform),
        "noise": tf.constant(rng.normal(0, 1.0, (augmentation.NOISE_TRACES, SAMPLES, 3)), tf.float32),
        "label": tf.constant(np.where(known, stead.EARTHQUAKE_CLASS, 0), tf.int64),
        "p_arrival_sample": tf.constant(np.where(known, P, np.nan), tf.float32),
        "s_arrival_sample": tf.constant(np.where(known, S, np.nan), tf.float32),
        "coda_end_sample": tf.constant(np.where(known, 5000, np.nan), tf.float32),
        "source_magnitude": tf.constant(np.where(known, 2.5, np.nan), tf.float32),
    }


def _augment(features, seed=(1, 2), **probabilities):
    config = augmentation.AugmentConfig(**probabilities)
    return {
        k: v.numpy() for k, v in augmentation.augment(features, tf.constant(seed, tf.int64), config).items()
    }


def test_a_shift_moves_the_waveform_and_every_arrival_target_by_the_same_samples():
    features = _batch()
    shifted = _augment(features, shift=1.0, shift_min_s=0.0, shift_max_s=50.0)
    p, s = shifted["p_arrival_sample"], shifted["s_arrival_sample"]
    quakes = shifted["label"] == stead.EARTHQUAKE_CLASS
    assert len(set(p[quakes])) > 1 and np.all((p[quakes] >= 0) & (p[quakes] <= 5000))
    for i in np.flatnonzero(quakes):
        assert np.argmax(np.abs(shifted["waveform"][i, :, 0])) == p[i]  # the spike is where the label says
        if np.isfinite(s[i]):
            assert s[i] - p[i] == S - P and shifted["waveform"][i, int(s[i]), 0] > 400
        else:  # pushed out of the window: unknown
            assert p[i] + S - P >= SAMPLES
        coda = shifted["coda_end_sample"][i]
        assert np.isnan(coda) or coda - p[i] == 5000 - P
    assert np.isnan(p[~quakes]).all()  # noise is never shifted
    np.testing.assert_array_equal(shifted["waveform"][~quakes], features["waveform"].numpy()[~quakes])
    np.testing.assert_array_equal(shifted["source_magnitude"], features["source_magnitude"].numpy())


def test_the_stretch_a_shift_exposes_is_the_traces_own_noise_and_joins_it():
    features = _batch()
    shifted = _augment(features, shift=1.0, shift_min_s=40.0, shift_max_s=45.0)
    original = features["waveform"].numpy()
    for i in np.flatnonzero(shifted["label"] == stead.EARTHQUAKE_CLASS):
        new_p = int(shifted["p_arrival_sample"][i])
        exposed = shifted["waveform"][i, : new_p - P]
        assert np.count_nonzero(exposed == 0) == 0
        np.testing.assert_allclose(exposed.std(), original[i, : P - 50].std(), rtol=0.2)
        # The recording's first sample follows its mirrored neighbour: no step at the join.
        join = new_p - P
        assert shifted["waveform"][i, join - 1, 0] == original[i, 1, 0]
        assert shifted["waveform"][i, join, 0] == original[i, 0, 0]


def test_each_augmentation_changes_only_what_it_should():
    features = _batch()
    original = features["waveform"].numpy()
    gained = _augment(features, gain=1.0)["waveform"]
    ratio = np.abs(gained).max(axis=(1, 2)) / np.abs(original).max(axis=(1, 2))
    assert np.all((ratio >= 0.1 - 1e-6) & (ratio <= 10 + 1e-5)) and ratio.std() > 0
    dropped = _augment(features, channel_dropout=1.0)["waveform"]
    zeroed = (np.abs(dropped).max(axis=1) == 0).sum(axis=1)
    assert set(zeroed) <= {1, 2} and zeroed.min() >= 1
    gapped = _augment(features, gap=1.0)["waveform"]
    run = (np.abs(gapped).max(axis=2) == 0).sum(axis=1)
    assert np.all((run >= 100) & (run <= 1000))
    noisy = _augment(features, noise=1.0)
    added = noisy["waveform"] - original
    assert np.all(np.abs(added[:6]).max(axis=(1, 2)) > 0)
    second = _augment(features, second_event=1.0)["waveform"]
    later = np.abs(second[:6, P + 100 :, 0] - original[:6, P + 100 :, 0]).max(axis=1)
    assert np.all(later > 50) and np.all(second[:6, : P + 100] == original[:6, : P + 100])


def test_the_same_seed_gives_the_same_draws_and_another_seed_others():
    features = _batch()
    one = _augment(features, seed=(3, 4), shift=0.5, gain=0.5, noise=0.5, gap=0.5)
    again = _augment(features, seed=(3, 4), shift=0.5, gain=0.5, noise=0.5, gap=0.5)
    other = _augment(features, seed=(5, 6), shift=0.5, gain=0.5, noise=0.5, gap=0.5)
    np.testing.assert_array_equal(one["waveform"], again["waveform"])
    assert not np.array_equal(one["waveform"], other["waveform"])
    # Turning another step on leaves the shift's draws as they were.
    gain_too = _augment(features, seed=(3, 4), shift=0.5, gain=1.0)
    shift_only = _augment(features, seed=(3, 4), shift=0.5)
    np.testing.assert_array_equal(gain_too["p_arrival_sample"], shift_only["p_arrival_sample"])


AUGMENTED = {"augment_shift": 1.0, "augment_gain": 0.5, "augment_noise": 0.5}


def _first_batches(records, split, training, augment, count=3):
    """(waveform, label) of the first batches, as the training step sees them."""
    config = options.build(input_pipeline.InputConfig, {"batch_size": 8, "deterministic": True})
    converted, task = ConvertedDataset(str(records)), tasks.get("regression", "p_arrival_sample")
    ds = input_pipeline.dataset(converted, split, config, task, training=training, seed=5, augment=augment)
    if training and augment:  # the pipeline brings the records' fields; the step augments and labels them
        made = (step.training_batch(b, augment, task, task.normalization(converted)) for b in ds)
        ds = ((w, y) for w, y, _ in made)
    else:
        ds = ((b["waveform"], b["y"]) for b in ds)
    return [(w.numpy(), y.numpy()) for (w, y), _ in zip(ds, range(count))]


def test_deterministic_training_batches_repeat_and_other_splits_are_never_augmented(tiny_records):
    augment = options.build(augmentation.AugmentConfig, AUGMENTED)
    first = _first_batches(tiny_records, "train", True, augment)
    second = _first_batches(tiny_records, "train", True, augment)
    plain = _first_batches(tiny_records, "train", True, None)
    for (w1, y1), (w2, y2), (_, y0) in zip(first, second, plain):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(y1, y2)
        assert not np.array_equal(y1, y0)  # P moved, so did its label
    for split in ("validation", "test"):
        for (w1, y1), (w0, y0) in zip(
            _first_batches(tiny_records, split, False, augment),
            _first_batches(tiny_records, split, False, None),
        ):
            np.testing.assert_array_equal(w1, w0)
            np.testing.assert_array_equal(y1, y0)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"augment_shift": 1.5}, r"--augment_shift=1.5: a probability must be in \[0, 1\]"),
        ({"augment_gain": -0.1}, r"--augment_gain=-0.1: a probability must be in \[0, 1\]"),
        ({"augment_shift_max_s": 60.0}, r"--augment_shift_min_s=0.0, --augment_shift_max_s=60.0: need"),
        ({"augment_shift_min_s": 20.0, "augment_shift_max_s": 10.0}, "need 0 <= min <= max < 60 s"),
    ],
)
def test_bad_augmentation_options_are_one_line(values, message):
    with pytest.raises(UserError, match=message):
        options.build(augmentation.AugmentConfig, values)


def test_class_weights_weigh_each_example_by_its_class(tiny_records):
    converted = ConvertedDataset(str(tiny_records))
    classification = tasks.get("classification")
    counts = converted.class_counts("train")
    balanced = classification.class_weights(converted, "balanced")
    # Each class adds the same to an epoch's loss: weight x count is equal, and the weights average 1.
    assert balanced[0] * counts["noise"] == pytest.approx(balanced[1] * counts["earthquake"])
    assert (balanced[0] * counts["noise"] + balanced[1] * counts["earthquake"]) == pytest.approx(
        sum(counts.values())
    )
    config = options.build(input_pipeline.InputConfig, {"batch_size": 16})
    ds = input_pipeline.dataset(
        converted, "train", config, classification, training=True, class_weights=(2.0, 0.5)
    )
    for batch in ds.take(2):
        np.testing.assert_array_equal(batch["weight"].numpy(), np.where(batch["y"].numpy() == 1, 0.5, 2.0))
    # The loss Keras minimises is then the mean of weight x cross-entropy.
    loss = tf.keras.losses.SparseCategoricalCrossentropy()
    probabilities = tf.constant([[0.9, 0.1], [0.2, 0.8]])
    weighted = loss(tf.constant([0, 1]), probabilities, sample_weight=tf.constant([2.0, 0.5])).numpy()
    assert weighted == pytest.approx((2.0 * -np.log(0.9) + 0.5 * -np.log(0.8)) / 2, rel=1e-5)
    assert classification.class_weights(converted, "1,0.4") == (1.0, 0.4)
    assert classification.class_weights(converted, "none") is None


@pytest.mark.parametrize("spec", ["heavy", "1", "1,0,2", "1,-1"])
def test_bad_class_weights_are_one_line(spec):
    with pytest.raises(UserError, match=f"--class_weight={spec}: give none, balanced, or 2 positive weights"):
        tasks.parse_class_weight(spec)


def test_a_regressor_refuses_class_weights(tiny_records):
    with pytest.raises(UserError, match="--class_weight=balanced: regression of source_magnitude learns no"):
        tasks.get("regression").class_weights(ConvertedDataset(str(tiny_records)), "balanced")


def test_a_trace_with_too_little_noise_before_p_is_not_moved():
    features = _batch()
    early = features["p_arrival_sample"].numpy().copy()
    early[0] = 120.0  # 1.2 s: not enough pre-P noise to fill a moved window with
    features = {**features, "p_arrival_sample": tf.constant(early)}
    shifted = _augment(features, shift=1.0)
    assert shifted["p_arrival_sample"][0] == 120.0
    np.testing.assert_array_equal(shifted["waveform"][0], features["waveform"].numpy()[0])
    assert np.all(shifted["p_arrival_sample"][1:6] != P)


def test_the_step_augments_labels_and_weighs_out_a_target_the_shift_pushed_out_of_the_window():
    task, augment = tasks.get("regression", "s_arrival_sample"), augmentation.AugmentConfig(1.0, 45.0, 55.0)
    records = {name: value for name, value in _batch(count=20).items() if name != "noise"}
    kept = {**task.kept(records), "seed": tf.constant([7, 8], tf.int64)}  # the pipeline's: quakes with S
    waveform, label, weight = (t.numpy() for t in step.training_batch(kept, augment, task, (100.0, 10.0)))
    moved = augmentation.augment(kept, kept["seed"], augment)["s_arrival_sample"].numpy()
    inside = np.isfinite(moved)
    assert 0 < inside.sum() < len(moved)  # P 45-55 s in pushes some S (9 s later) out
    np.testing.assert_allclose(label[inside, 0], (moved[inside] - 100.0) / 10.0)
    # The loss stays the mean over the examples with a label: their weights sum to the batch's size.
    np.testing.assert_allclose(weight, inside * len(moved) / inside.sum(), rtol=1e-6)
    assert np.all(label[~inside] == 0) and np.isfinite(waveform).all()


def test_the_augmented_step_weighs_classes_as_the_plain_pipeline_does(tiny_records):
    config = options.build(input_pipeline.InputConfig, {"batch_size": 16, "deterministic": True})
    converted, task = ConvertedDataset(str(tiny_records)), tasks.get("classification")
    reading = {"training": True, "seed": 5, "class_weights": (2.0, 0.5)}
    plain = input_pipeline.dataset(converted, "train", config, task, **reading)
    augment = augmentation.AugmentConfig(gain=1.0)
    augmented = input_pipeline.dataset(converted, "train", config, task, augment=augment, **reading)
    for plain_batch, batch in zip(plain.take(2), augmented):
        _, label, weight = step.training_batch(batch, augment, task, (0.0, 1.0))
        np.testing.assert_array_equal(label.numpy(), plain_batch["y"].numpy())  # the same examples, in order
        np.testing.assert_array_equal(weight.numpy(), plain_batch["weight"].numpy())
        np.testing.assert_array_equal(weight.numpy(), np.where(label.numpy() == 1, 0.5, 2.0))
