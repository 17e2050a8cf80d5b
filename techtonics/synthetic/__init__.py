"""The synthetic STEAD: real STEAD's distributions (reference.py), waveforms (seismograms.py), traces drawn
from both (generator.py) and written in STEAD's files (writer.py), and continuous recordings (stream.py).

`python -m techtonics.synthetic` (__main__.py) writes one.
"""
