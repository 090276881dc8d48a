"""Just enough PNG decoding (8-bit RGB/RGBA, not interlaced) to inspect a screenshot."""

from __future__ import annotations

import struct
import zlib


def pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of raw pixel bytes) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r) for r in rows]


def colour_share(data: bytes, rgb: tuple[int, int, int], tolerance: int = 30) -> float:
    """Share of pixels within `tolerance` of `rgb` on each channel."""
    width, height, rows = pixels(data)
    channels = len(rows[0]) // width
    hits = 0
    for row in rows:
        for x in range(0, len(row), channels):
            if all(abs(row[x + i] - rgb[i]) <= tolerance for i in range(3)):
                hits += 1
    return hits / (width * height)


def non_white_share(data: bytes) -> float:
    width, height, rows = pixels(data)
    channels = len(rows[0]) // width
    busy = sum(
        1
        for row in rows
        for x in range(0, len(row), channels)
        if min(row[x], row[x + 1], row[x + 2]) < 240
    )
    return busy / (width * height)
