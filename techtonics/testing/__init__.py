"""Helpers the tests and the benchmark share: a local S3 server (local_s3.py), an untrained export
(exports.py), the class mixing of the training stream (mixing.py) and SeisBench-format datasets
(seisbench_format.py). Part of the package so an installed copy can run its benchmark; nothing else
imports them.
"""
