"""The field's pick-benchmark (SeisBench's pick-benchmark): targets, scoring, metrics and report.

`python -m techtonics.pick_benchmark` runs it (run.py); `bench` is the speed benchmark, a different thing.
"""
