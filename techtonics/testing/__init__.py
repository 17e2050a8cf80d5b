"""Helpers the tests and the benchmark share: a local S3 server (local_s3.py) and an untrained export
(exports.py). Part of the package so an installed copy can run its benchmark; nothing else imports them.
"""
