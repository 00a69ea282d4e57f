"""Text for the caller's buffers: encoded, cut to fit, NUL-terminated (sans IO).

``pOutInfo`` is allocated by the caller; the vendors' callers allocate 1024
bytes (integration.md), so the library writes at most :data:`OUT_INFO_SIZE`
bytes into it, the terminating NUL included, and never past it. The reader
information of ``iGetReaderInfo`` takes at most :data:`READER_INFO_SIZE` bytes
per buffer. A card line always fits (its longest form is under 300 bytes); an
error text that does not is cut at a character boundary, so a GBK or UTF-8
character is never split.
"""

from __future__ import annotations

#: bytes written to pOutInfo at most, the terminating NUL included
OUT_INFO_SIZE = 1024
#: bytes written to each of iGetReaderInfo's buffers at most, NUL included
READER_INFO_SIZE = 64


def fit(text: str, encoding: str, size: int) -> bytes:
    """``text`` encoded, cut to at most ``size - 1`` bytes on a character
    boundary, followed by one NUL: at most ``size`` bytes in all.

    Characters the encoding lacks (in error texts only: a card's name is GBK
    already) become ``?``; a NUL inside the text ends it there.
    """
    if size < 1:
        raise ValueError("a buffer holds at least the terminating NUL")
    text = text.split("\0", 1)[0]
    data = text.encode(encoding, errors="replace")
    if len(data) < size:
        return data + b"\0"
    out = bytearray()
    for char in text:
        piece = char.encode(encoding, errors="replace")
        if len(out) + len(piece) > size - 1:
            break
        out += piece
    return bytes(out) + b"\0"
