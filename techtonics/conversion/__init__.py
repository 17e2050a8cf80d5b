"""STEAD (CSV + HDF5) to sharded TFRecords, one module per concern.

    converter.py  convert(): the run in order, resuming a killed one
    plan.py       ConvertConfig; selection, splits and shards, from the CSVs
    read.py       the writer processes' pool and their HDF5 reads
    write.py      shards under temporary names, progress records, the progress line
    manifest.py   manifest.json and the summary printed after a run
    verify.py     re-reading the shards against the manifest (TensorFlow)

The command is techtonics/convert.py; the record format is techtonics.data.records.
"""
