"""Helpers the tests and the benchmark share: a local S3 server (local_s3.py), an untrained export
(exports.py) and the class mixing of the training stream (mixing.py). Part of the package so an installed
copy can run its benchmark; nothing else imports them.
"""
