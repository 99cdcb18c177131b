"""Output forms of ``python -m tq map``, the same as tq-client's.

tsv ``N<TAB>RESULT``, JSON Lines ``{"n":N,"result":RESULT}``, the items
whose result is true, their count, or a packed bitmap (item i = bit i%8 of
byte i/8, LSB first). A Python function's result is written as tq-client
writes a task's: True/False as ``true``/``false``, a list or tuple as
space-separated values (tsv) or a JSON array; anything else as ``str()``
(tsv) or JSON (json; ``str()`` if it has none). true, count and bitmap take
each result's truth value.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO, Iterable

FORMATS = ("tsv", "json", "true", "count", "bitmap")


def _tsv_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return " ".join(_tsv_value(v) for v in value)
    return str(value)


class Writer:
    """Writes (n, result) pairs in one format to a binary stream.

    Used by one thread. ``finish(complete)`` writes what is pending (the
    count, the last bitmap byte); a count is written only if complete.
    """

    def __init__(self, form: str, out: BinaryIO) -> None:
        if form not in FORMATS:
            raise ValueError(f"unknown --format '{form}'; choose tsv, json, "
                             "true, count or bitmap")
        self._form = form
        self._out = out
        self._count = 0
        self._byte = 0
        self._bits = 0
        self._json = json.JSONEncoder(separators=(",", ":"), default=str)

    def write(self, numbers: Iterable[int], results: Iterable[Any]) -> None:
        """Writes one chunk's items."""
        form = self._form
        if form == "tsv":
            self._out.write("".join(
                f"{n}\t{_tsv_value(r)}\n"
                for n, r in zip(numbers, results)).encode())
        elif form == "json":
            encode = self._json.encode
            self._out.write("".join(
                f'{{"n":{n},"result":{encode(r)}}}\n'
                for n, r in zip(numbers, results)).encode())
        elif form == "true":
            self._out.write("".join(
                f"{n}\n" for n, r in zip(numbers, results) if r).encode())
        elif form == "count":
            self._count += sum(1 for r in results if r)
        else:
            self._write_bits(results)

    def add_count(self, count: int) -> None:
        """Adds a chunk's count of true items (the workers counted)."""
        self._count += count

    def _write_bits(self, results: Iterable[Any]) -> None:
        packed = bytearray()
        byte, bits = self._byte, self._bits
        for r in results:
            if r:
                byte |= 1 << bits
            bits += 1
            if bits == 8:
                packed.append(byte)
                byte, bits = 0, 0
        self._byte, self._bits = byte, bits
        self._out.write(bytes(packed))

    def finish(self, complete: bool) -> None:
        """Writes what is pending and flushes."""
        if self._form == "count" and complete:
            self._out.write(f"{self._count}\n".encode())
        if self._form == "bitmap" and self._bits:
            self._out.write(bytes([self._byte]))
            self._bits = 0
        self._out.flush()
