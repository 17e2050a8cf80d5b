"""Dropout that a resumed run repeats: each training step's mask is drawn from (seed, step).

Keras's Dropout draws from the state of a stateful random op, which no
checkpoint saves and a new process restarts: a run resumed from its backup
dropped other units than the run that was not killed, and ended with other
weights. Here the step is the optimizer's step count (`optimizer.iterations`),
which the backup holds, so a resumed run draws the masks the uninterrupted
run draws. The layer holds no variable of its own, so checkpoints keep the
layout of models built with Keras's Dropout.
"""

from __future__ import annotations

import random

import tensorflow as tf
import tf_keras


class StepDropout(tf_keras.layers.Layer):
    """Dropout (inverted, as Keras's) with a mask that is a function of (seed, training step, replica).

    seed: None draws one from Python's generator, which tf_keras.utils.set_random_seed seeds, as Keras's
    own layers draw theirs. `count_steps(model)` gives it the step count of the model's optimizer, after
    compile; without it the layer draws as Keras's Dropout does.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = random.randint(1, 10**9) if seed is None else seed
        self._steps = None  # a function, not the variable: the optimizer's variable is not this layer's

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        if self._steps is None:  # a model compiled elsewhere, or traced for a SavedModel: Keras's draws
            return tf.nn.dropout(inputs, self.rate, seed=self.seed)
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context else 0
        step = tf.cast(self._steps(), tf.int64)
        seed = tf.random.experimental.stateless_fold_in(
            tf.stack([tf.constant(self.seed, tf.int64), step]), replica
        )
        return tf.nn.experimental.stateless_dropout(inputs, self.rate, seed)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def count_steps(model: tf_keras.Model) -> None:
    """Draws every StepDropout of a compiled model from its optimizer's step count."""
    iterations = model.optimizer.iterations
    for layer in model.submodules:
        if isinstance(layer, StepDropout):
            layer._steps = lambda: iterations
