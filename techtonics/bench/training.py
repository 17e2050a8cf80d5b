"""Training speed: each CNN fed by the input pipeline against the same model fed one batch from memory."""

from __future__ import annotations

import time

import tensorflow as tf
import tf_keras

from techtonics.bench import datasets
from techtonics.bench.report import Row
from techtonics.data.converted import ConvertedDataset
from techtonics.training import augmentation, input_pipeline, step, tasks, trainer


class _EpochSeconds(tf_keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def training_rates(
    records_dir: str, task: str, jit_compile: bool, batch_size: int, steps: int, augmented: bool = False
) -> dict[str, float]:
    """Training examples/s of one CNN, the second of two epochs timed: fed by the pipeline ("fed") and
    from memory ("memory"); when asked, augmented in the step (augmentation.RECOMMENDED) and fed by its
    pipeline ("augmented") and from memory ("augmented_memory").

    task: which CNN; jit_compile: with XLA; steps: training steps per epoch.
    """
    config = trainer.TrainConfig(
        records=records_dir,
        task=task,
        input=input_pipeline.InputConfig(batch_size=batch_size),
        jit_compile=jit_compile,
    )
    task_object, converted = config.make_task(), ConvertedDataset(records_dir)
    recipes = {"fed": None, **({"augmented": augmentation.RECOMMENDED} if augmented else {})}
    rates = {}
    for recipe, augment in recipes.items():
        pipeline = input_pipeline.split_dataset(
            converted, "train", config.input, task_object, training=True, augment=augment
        )[0]
        pipeline = (
            pipeline if augment else pipeline.map(input_pipeline.keras_batch)
        )  # as the trainer feeds fit
        memory = tf.data.Dataset.from_tensors(next(iter(pipeline))).repeat()  # one batch, no input
        for name, ds in ((recipe, pipeline), (f"{recipe}_memory" if augment else "memory", memory)):
            model = task_object.build_model(config.model)
            if augment:
                normalization = task_object.normalization(converted)
                model = step.with_augmentation(model, augment, task_object, normalization)
            trainer.compile_model(model, config, task_object)
            timer = _EpochSeconds()
            model.fit(ds, epochs=2, steps_per_epoch=steps, callbacks=[timer], verbose=0)
            rates[name] = steps * batch_size / timer.seconds
    return rates


def run(workdir: str, traces: int, batch_size: int, steps: int) -> list[Row]:
    """Both CNNs with and without XLA, fed by the pipeline against fed from memory, `steps` steps an epoch;
    without XLA also augmented in the step, both ways, and the augmentation's cost in the step (with XLA
    a CPU step is 3-5x slower, which makes the input's share smaller, not the comparison different)."""
    records_dir = datasets.converted_records(workdir, traces)
    rows = []
    for task in tasks.TASKS:
        for jit in (False, True):
            rates = training_rates(records_dir, task, jit, batch_size, steps, augmented=not jit)
            key, name = f"training.{task}{'.xla' if jit else ''}", f"training {task}{', XLA' if jit else ''}"
            rows.append(Row(f"{key}.memory", f"{name}, from memory", rates["memory"], "examples/s"))
            rows.append(
                Row(
                    f"{key}.fed",
                    f"{name}, fed by the pipeline",
                    rates["fed"],
                    "examples/s",
                    "from memory",
                    rates["fed"] / rates["memory"],
                    ">= 0.95",
                )
            )
            if "augmented" in rates:
                augmented, memory = rates["augmented"], rates["augmented_memory"]
                rows += [
                    Row(
                        f"{key}.augmented_memory",
                        f"{name}, augmented in the step, from memory",
                        memory,
                        "examples/s",
                        "not augmented, from memory",
                        memory / rates["memory"],
                    ),
                    Row(
                        f"{key}.augmented",
                        f"{name}, augmented in the step, fed by its pipeline",
                        augmented,
                        "examples/s",
                        "augmented, from memory",
                        augmented / memory,
                        ">= 0.95",
                    ),
                ]
    return rows
