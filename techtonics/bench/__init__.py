"""The benchmark: every measurement beside its bound or baseline, measured in the same run.

`python -m techtonics.bench` (__main__.py) runs, through suite.py, the parts
that --parts names, one module each:

    conversion.py  the converter against h5py's read rate on the same warm writer
                   processes, 1 against all writers, end to end, peak RSS at two
                   sizes, SeisBench's own conversion (tools/seisbench_peer.py), and
                   ours from SeisBench's format against from STEAD's files
    mixing.py      the earthquake share of every window of the training stream
                   against a perfect shuffle
    pipeline.py    the input pipeline against raw record bytes, from_generator
                   over h5py and the original's PNG files (png_baseline.py);
                   profile.py: its stages under the TensorFlow profiler
    training.py    each CNN fed by the pipeline against fed from memory, with and
                   without XLA
    prediction.py  the predict command's pipeline against a plain loop and against
                   batches in memory, over STEAD files and a continuous recording
    storage.py     the input pipeline from a local S3 server (techtonics.testing)
                   against local disk, the same records
    scale.py       the full-size run, generation to evaluation, against 20,000 traces

datasets.py makes the generated STEAD and records they share; report.py
writes bench.json, bench.md and bench.png. A measurement that needs a
process of its own runs as `python -m techtonics.bench.measure`
(measurements.py).
"""
