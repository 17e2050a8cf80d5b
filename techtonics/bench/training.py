"""Training speed: each CNN fed by the input pipeline against the same model fed one batch from memory."""

from __future__ import annotations

import time

import tensorflow as tf
import tf_keras

from techtonics.bench import datasets
from techtonics.bench.report import Row
from techtonics.data.converted import ConvertedDataset
from techtonics.training import augmentation, input_pipeline, tasks, trainer


class _EpochSeconds(tf_keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def training_rates(
    records_dir: str, task: str, jit_compile: bool, batch_size: int, steps: int, augmented: bool = False
) -> dict[str, float]:
    """Training examples/s of one CNN, the second of two epochs timed: fed by the pipeline ("fed"), by the
    augmented pipeline ("augmented", when asked) and from memory ("memory").

    task: which CNN; jit_compile: with XLA; steps: training steps per epoch.
    """
    config = trainer.TrainConfig(
        records=records_dir,
        task=task,
        input=input_pipeline.InputConfig(batch_size=batch_size),
        jit_compile=jit_compile,
    )
    task_object = config.make_task()
    feeds = {
        name: input_pipeline.split_dataset(
            ConvertedDataset(records_dir), "train", config.input, task_object, training=True, augment=augment
        )[0]
        for name, augment in [
            ("fed", None),
            *([("augmented", augmentation.RECOMMENDED)] if augmented else []),
        ]
    }
    feeds["memory"] = tf.data.Dataset.from_tensors(next(iter(feeds["fed"]))).repeat()  # one batch, no input
    rates = {}
    for name, ds in feeds.items():
        model = task_object.build_model(config.model)
        trainer.compile_model(model, config, task_object)
        timer = _EpochSeconds()
        model.fit(ds, epochs=2, steps_per_epoch=steps, callbacks=[timer], verbose=0)
        rates[name] = steps * batch_size / timer.seconds
    return rates


def run(workdir: str, traces: int, batch_size: int, steps: int) -> list[Row]:
    """Both CNNs with and without XLA, fed by the pipeline against fed from memory, `steps` steps an epoch."""
    records_dir = datasets.converted_records(workdir, traces)
    rows = []
    for task in tasks.TASKS:
        for jit in (False, True):
            # The augmented feed once per CNN, without XLA: augmentation is input work, not the model's.
            rates = training_rates(records_dir, task, jit, batch_size, steps, augmented=not jit)
            key, name = f"training.{task}{'.xla' if jit else ''}", f"training {task}{', XLA' if jit else ''}"
            rows.append(Row(f"{key}.memory", f"{name}, from memory", rates["memory"], "examples/s"))
            for feed, described in (
                ("fed", "fed by the pipeline"),
                ("augmented", "fed by the augmented pipeline"),
            ):
                if feed in rates:
                    ratio = rates[feed] / rates["memory"]
                    rows.append(
                        Row(
                            f"{key}.{feed}",
                            f"{name}, {described}",
                            rates[feed],
                            "examples/s",
                            "from memory",
                            ratio,
                            ">= 0.95",
                        )
                    )
    return rows
