"""Augmentation of training batches, in graph: an earthquake anywhere in the window, at any level.

Every STEAD trace puts P 4-9 s into the window, so a model trained on them
alone learns "P in the first seconds"; on continuous data P can be anywhere.
Each augmentation is drawn per example with its own probability
(`AugmentConfig`), from stateless random ops seeded per batch, so a seed
gives the same batches and every epoch draws new ones. They run inside the
training step, on the accelerator, before the task labels the batch
(training/step.py); the input pipeline only brings FIELDS, a seed and
NOISE_TRACES noise traces with every batch. In this order:

- shift: P moves to a uniform place in [shift_min_s, shift_max_s]; the stretch
  the shift exposes is the trace's own pre-P noise (a stretch of zeros is a
  tell a model learns), mirrored: before the moved recording it joins it
  without a step; after its end (P moved earlier) it follows the coda's last
  sample. A trace with less than 1 s of noise before P is not moved;
- second_event: another earthquake of the batch, at 10-100% of the
  amplitude, added with its P after this one's;
- noise: one of the batch's noise traces (`noise`, drawn from a pool of the
  training split's) added at 0.5-3x the trace's pre-P noise;
- gap: 1-10 s of every channel set to zero, as telemetry gaps in STEAD;
- channel_dropout: one or two channels, never all three, set to zero;
- gain: the amplitude scaled by 10^u, u uniform in [-1, 1] (two decades).

Labels follow the waveform: every target counted in samples (stead.REGRESSION_
TARGETS, P, S and coda end) moves by the shift, and one the shift pushes out
of the window becomes unknown (NaN), so a regressor of it gives the example
no weight (training/step.py).
Magnitude, distance and the class do not change. Noise traces are never
shifted.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import stead

SAMPLES = stead.TRACE_SAMPLES
SAMPLE_TARGETS = tuple(name for name, unit in stead.REGRESSION_TARGETS.items() if unit == "samples")
_PRE_P_MARGIN = 50  # samples before P left out of the trace's noise: the onset must not leak into it
_MIN_PRE_P = _PRE_P_MARGIN + 100  # a trace with less noise before P is not moved: too little to mirror
_WINDOW_S = SAMPLES / stead.SAMPLING_RATE_HZ
# What the augmentation reads of a parsed batch, besides the task's truth field and, with noise on, `noise`.
FIELDS = ("waveform", "label", *SAMPLE_TARGETS)
# Noise traces that come with every batch (the noise step draws one of them per example), from a pool of the
# training split's first NOISE_POOL ones kept in memory (74 MB): 16 per batch cost the input pipeline a
# copy of 1.2 MB, where reading them as records would cost as much as the batch's own.
NOISE_TRACES = 16
NOISE_POOL = 1024


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Per-example probabilities of each augmentation (0: off), and where a shift may put P."""

    shift: float = option(
        0.0,
        "Probability that an earthquake's P is moved to a random place in the window.",
        flag="augment_shift",
    )
    shift_min_s: float = option(
        0.0, "Earliest place a shift puts P, in seconds into the window.", flag="augment_shift_min_s"
    )
    shift_max_s: float = option(
        50.0, "Latest place a shift puts P, in seconds into the window.", flag="augment_shift_max_s"
    )
    second_event: float = option(
        0.0, "Probability of adding a second earthquake after an earthquake's P.", flag="augment_second_event"
    )
    noise: float = option(
        0.0,
        "Probability of adding a noise trace (of a pool of the training split's) at a random level.",
        flag="augment_noise",
    )
    gap: float = option(0.0, "Probability of a 1-10 s gap (zeros) on every channel.", flag="augment_gap")
    channel_dropout: float = option(
        0.0, "Probability of zeroing one or two channels.", flag="augment_channel_dropout"
    )
    gain: float = option(0.0, "Probability of scaling the amplitude by 0.1-10x.", flag="augment_gain")

    def __post_init__(self):
        options.check(self)
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not field.name.startswith("shift_") and not 0.0 <= value <= 1.0:
                raise UserError(f"--augment_{field.name}={value}: a probability must be in [0, 1]")
        if not 0.0 <= self.shift_min_s <= self.shift_max_s < _WINDOW_S:
            raise UserError(
                f"--augment_shift_min_s={self.shift_min_s}, --augment_shift_max_s={self.shift_max_s}: "
                f"need 0 <= min <= max < {_WINDOW_S:g} s (P must stay in the window)"
            )

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is on."""
        return any(getattr(self, f.name) for f in dataclasses.fields(self) if not f.name.startswith("shift_"))


# The recipe of the benchmark and (through tasks.Task.recommended_flags) the demo, the reproduction and
# configs' *_augmented.flags: EQTransformer's trainer shifts 99% of its events and adds noise to 30%, gaps
# to 20% and a second event to 60%; here the second event is rarer (a batch's earthquakes are few), and
# gain is added because the image is clipped dB (a detector must not learn the level; a magnitude
# regressor must, so its task leaves the gain out).
# Half the earthquakes keep P where STEAD has it: moving 90% cost the classifier 0.017 of test accuracy
# with P there, moving half 0.005, and both give P anywhere in 0-50 s a mean probability of 0.99 or
# more on a continuous recording (docs/POSITION.md). Channel dropout is off: the original image is the
# Z channel alone, and a dropped Z leaves no signal.
RECOMMENDED = AugmentConfig(shift=0.5, second_event=0.2, noise=0.3, gap=0.1, gain=0.5)
# A detector's classifier trains with RECOMMENDED and these class weights (--class_weight; noise,
# earthquake): continuous data is mostly noise, and with the shift alone the classifier gave a
# recording's quiet windows a mean probability of 0.058, weighted 0.017-0.033 (docs/POSITION.md).
RECOMMENDED_CLASS_WEIGHT = "2,1"


def _uniform(seed, shape, low=0.0, high=1.0):
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)


def _mirrored(index):
    """Indices into a stretch of length n, read forwards then backwards: (k, n) -> k reflected into [0, n)."""
    k, n = index
    period = 2 * n
    position = tf.math.floormod(k, period)
    return tf.where(position < n, position, period - 1 - position)


def _shift(features: dict, apply, seeds, config: AugmentConfig) -> dict:
    """Moves each applied earthquake's P to a random place; the exposed stretch is mirrored pre-P noise."""
    p = features["p_arrival_sample"]
    shiftable = apply & (features["label"] == stead.EARTHQUAKE_CLASS) & tf.math.is_finite(p)
    shiftable = shiftable & (tf.where(shiftable, p, 0.0) >= _MIN_PRE_P)
    p = tf.where(shiftable, p, 0.0)
    rate = stead.SAMPLING_RATE_HZ
    place = _uniform(seeds[0], tf.shape(p), config.shift_min_s * rate, config.shift_max_s * rate + 1)
    shift = tf.where(shiftable, tf.floor(place) - tf.round(p), 0.0)  # samples, whole
    shift_i = tf.cast(shift, tf.int32)[:, tf.newaxis]
    t = tf.range(SAMPLES)[tf.newaxis, :]
    source = t - shift_i  # the original sample each new sample comes from
    inside = (source >= 0) & (source < SAMPLES)
    noise_length = tf.maximum(tf.cast(tf.round(p), tf.int32) - _PRE_P_MARGIN, 1)[:, tf.newaxis]
    # Before the shifted start: mirrored backwards from the recording's first sample, so they join.
    before = _mirrored((shift_i - t, noise_length))
    after = _mirrored((t - (SAMPLES + shift_i), noise_length))  # after the shifted end
    index = tf.where(inside, source, tf.where(t < shift_i, before, after))
    shifted = dict(features)
    shifted["waveform"] = tf.gather(features["waveform"], index, batch_dims=1)
    for name in SAMPLE_TARGETS:
        moved = features[name] + shift
        in_window = (moved >= 0) & (moved < SAMPLES)
        shifted[name] = tf.where(in_window | ~shiftable, moved, float("nan"))
    return shifted


def _pick(seed, candidates, count):
    """For each of `count` examples, another example of the batch among the candidates, at random.

    Where the only candidate is the example itself, or there is none, the
    answer is the example itself (or 0), which the caller does not apply.
    """
    # A random score for every (example, other) pair, kept where the other is a candidate and not the
    # example: the best-scored is a uniform draw among them, with no shape that depends on the data.
    allowed = candidates[tf.newaxis, :] & ~tf.eye(count, dtype=tf.bool)
    scores = tf.where(allowed, tf.random.stateless_uniform([count, count], seed), -1.0)
    chosen = tf.argmax(scores, axis=1, output_type=tf.int32)
    return tf.where(tf.reduce_any(allowed, axis=1), chosen, tf.range(count))


def _rms(waveform, length):
    """Each example's RMS over its first `length` samples (at least one)."""
    mask = tf.cast(tf.range(SAMPLES)[tf.newaxis, :] < length[:, tf.newaxis], waveform.dtype)[..., tf.newaxis]
    energy = tf.reduce_sum(tf.square(waveform) * mask, axis=[1, 2]) / (3 * tf.reduce_sum(mask, axis=[1, 2]))
    return tf.sqrt(energy) + 1e-6


def _pre_p_length(features):
    p = features["p_arrival_sample"]
    known = tf.math.is_finite(p)
    return tf.where(known, tf.maximum(tf.cast(tf.where(known, p, 0.0), tf.int32) - _PRE_P_MARGIN, 1), SAMPLES)


def _second_event(features, apply, seeds, config) -> dict:
    """Adds another earthquake of the batch, its P after this one's, at 10-100% of this one's amplitude."""
    waveform, count = features["waveform"], tf.shape(features["waveform"])[0]
    earthquake = (features["label"] == stead.EARTHQUAKE_CLASS) & tf.math.is_finite(
        features["p_arrival_sample"]
    )
    other = _pick(seeds[0], earthquake, count)
    apply = apply & earthquake & tf.gather(earthquake, other) & (other != tf.range(count))
    p, p_other = features["p_arrival_sample"], tf.gather(features["p_arrival_sample"], other)
    p, p_other = tf.where(apply, p, 0.0), tf.where(apply, p_other, 0.0)
    place = _uniform(seeds[1], [count], 0.0, 1.0) * (SAMPLES - p - 100) + p + 100  # after this P
    shift = tf.cast(tf.floor(place - p_other), tf.int32)[:, tf.newaxis]
    source = tf.range(SAMPLES)[tf.newaxis, :] - shift
    inside = tf.cast((source >= 0) & (source < SAMPLES), waveform.dtype)[..., tf.newaxis]
    added = tf.gather(tf.gather(waveform, other), tf.clip_by_value(source, 0, SAMPLES - 1), batch_dims=1)
    peak = tf.reduce_max(tf.abs(waveform), axis=[1, 2])
    peak_other = tf.reduce_max(tf.abs(added * inside), axis=[1, 2]) + 1e-6
    level = _uniform(seeds[2], [count], 0.1, 1.0) * peak / peak_other
    level = tf.where(apply, level, 0.0)[:, tf.newaxis, tf.newaxis]
    return {**features, "waveform": waveform + level * added * inside}


def _add_noise(features, apply, seeds, config) -> dict:
    """Adds one of the batch's noise traces (`noise`) at 0.5-3x the trace's own pre-P noise level."""
    waveform, count = features["waveform"], tf.shape(features["waveform"])[0]
    noise = features["noise"]
    other = tf.random.stateless_uniform([count], seeds[0], maxval=tf.shape(noise)[0], dtype=tf.int32)
    added = tf.gather(noise, other)
    level = _uniform(seeds[1], [count], 0.5, 3.0) * _rms(waveform, _pre_p_length(features))
    level = level / _rms(added, tf.fill([count], SAMPLES))
    return {**features, "waveform": waveform + tf.where(apply, level, 0.0)[:, tf.newaxis, tf.newaxis] * added}


def _gap(features, apply, seeds, config) -> dict:
    """Zeros 1-10 s of every channel, at a random place."""
    waveform, count = features["waveform"], tf.shape(features["waveform"])[0]
    rate = stead.SAMPLING_RATE_HZ
    length = tf.cast(_uniform(seeds[0], [count], 1.0 * rate, 10.0 * rate), tf.int32)[:, tf.newaxis]
    start = tf.cast(_uniform(seeds[1], [count]) * tf.cast(SAMPLES - length[:, 0], tf.float32), tf.int32)
    t = tf.range(SAMPLES)[tf.newaxis, :]
    hole = (t >= start[:, tf.newaxis]) & (t < start[:, tf.newaxis] + length) & apply[:, tf.newaxis]
    return {**features, "waveform": waveform * tf.cast(~hole, waveform.dtype)[..., tf.newaxis]}


def _channel_dropout(features, apply, seeds, config) -> dict:
    """Zeros one or two of the three channels, chosen at random."""
    waveform, count = features["waveform"], tf.shape(features["waveform"])[0]
    rank = tf.argsort(tf.argsort(_uniform(seeds[0], [count, 3]), axis=1), axis=1)  # a random order
    dropped = 1 + tf.cast(_uniform(seeds[1], [count]) < 0.5, tf.int32)  # one or two
    zeroed = rank < dropped[:, tf.newaxis]
    keep = tf.cast(~(zeroed & apply[:, tf.newaxis]), waveform.dtype)
    return {**features, "waveform": waveform * keep[:, tf.newaxis, :]}


def _gain(features, apply, seeds, config) -> dict:
    """Scales the amplitude by 10^u, u uniform in [-1, 1]."""
    count = tf.shape(features["waveform"])[0]
    factor = tf.pow(10.0, tf.where(apply, _uniform(seeds[0], [count], -1.0, 1.0), 0.0))
    return {**features, "waveform": features["waveform"] * factor[:, tf.newaxis, tf.newaxis]}


# In order (see the module's docstring): the name of each step's probability, the step, its random draws.
_STEPS = (
    ("shift", _shift, 1),
    ("second_event", _second_event, 3),
    ("noise", _add_noise, 2),
    ("gap", _gap, 2),
    ("channel_dropout", _channel_dropout, 2),
    ("gain", _gain, 1),
)


def augment(features: dict, seed: tf.Tensor, config: AugmentConfig) -> dict:
    """A parsed batch of records, augmented as config says; seed: this batch's (2,) int64 stateless seed.

    Every step has its own seeds whether or not it is on, so turning one on
    changes no other step's draws.
    """
    count = tf.shape(features["waveform"])[0]
    seeds = tf.random.experimental.stateless_split(seed, sum(1 + draws for *_, draws in _STEPS))
    first = 0
    for name, step, draws in _STEPS:
        probability = getattr(config, name)
        if probability:
            apply = _uniform(seeds[first], [count]) < probability
            features = step(features, apply, [seeds[first + 1 + k] for k in range(draws)], config)
        first += 1 + draws
    return features
