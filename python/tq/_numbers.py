"""Numbers on the command line and in --input files, read as tq-client does.

Decimal digits only, 0..2**64-1; whitespace-separated in files, read a
block at a time so an input of any length streams. Errors name the text and,
in files, the source and line ("input.txt:3: 'abc' is not a number").
"""

from __future__ import annotations

from typing import BinaryIO, Iterator

U64_MAX = (1 << 64) - 1
_BLOCK = 1 << 16


class NumberError(ValueError):
    """Input that is not a number in 0..2**64-1 (tq-client's exit code 1)."""


def parse_number(text: str) -> int:
    """``"42"`` -> 42; anything but decimal digits in 0..2**64-1 raises."""
    if text.startswith("-") and text[1:].isdigit():
        raise NumberError(f"negative numbers are not allowed: '{text}'")
    if not text.isascii() or not text.isdigit():
        raise NumberError(f"'{text}' is not a number")
    value = int(text)
    if value > U64_MAX:
        raise NumberError(f"'{text}' exceeds 2^64-1")
    return value


def read_numbers(stream: BinaryIO, source: str) -> Iterator[int]:
    """Yields the whitespace-separated numbers of `stream`, streaming."""
    import re

    token_pattern = re.compile(rb"\S+")
    line = 1
    count = 0
    pending = b""
    while True:
        block = stream.read(_BLOCK)
        data = pending + block
        pending = b""
        if block:
            # The last token may go on in the next block: keep it.
            end = len(data)
            while end > 0 and not data[end - 1:end].isspace():
                end -= 1
            data, pending = data[:end], data[end:]
        position = 0
        for match in token_pattern.finditer(data):
            line += data.count(b"\n", position, match.start())
            position = match.start()
            try:
                yield parse_number(match.group().decode("ascii", "replace"))
            except NumberError as error:
                raise NumberError(f"{source}:{line}: {error}") from None
            count += 1
        line += data.count(b"\n", position)
        if not block:
            break
    if count == 0:
        raise NumberError(f"{source} contains no numbers")
