"""Faults the tests inject: a disk that fills while a file is written."""

from __future__ import annotations

from collections.abc import Callable

from techtonics.core import fileio


class FullDisk:
    """A file that takes `room` bytes, then fails as a full disk does (also when closing flushes)."""

    def __init__(self, file, room: int):
        self.file, self.left = file, room

    def write(self, data):
        self.left -= len(data)
        if self.left < 0:
            raise OSError(28, "No space left on device")
        return self.file.write(data)

    def close(self):
        self.file.close()


def filling_disk(monkeypatch, fills: Callable[[str], bool], room: int) -> None:
    """Patches fileio.open_file so that files whose path `fills` says are written onto a full disk."""
    real_open = fileio.open_file

    def open_file(path, mode="rb"):
        file = real_open(path, mode)
        return FullDisk(file, room) if "w" in mode and fills(path) else file

    monkeypatch.setattr(fileio, "open_file", open_file)
