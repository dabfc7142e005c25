"""Draw the app's PNG icons from the shapes of static/icon.svg, with the standard library only.

Run once after changing the design and commit the PNGs:
``python tools/make_icons.py`` writes static/icons/icon-192.png, icon-512.png, maskable-512.png
(full-bleed, the pill inside the maskable safe zone) and apple-touch-icon.png (180 px).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "static" / "icons"
BLUE, WHITE, LIGHT = (0x1F, 0x5F, 0x8B), (0xFF, 0xFF, 0xFF), (0x9F, 0xD3, 0xFF)
SAMPLES = 3  # per side: 9 samples a pixel smooth the edges


def rounded(x: float, y: float, left: float, top: float, width: float, height: float, radius: float) -> bool:
    """Whether (x, y) lies in the rounded rectangle (the SVG's ``rect`` with ``rx``)."""
    if not (left <= x <= left + width and top <= y <= top + height):
        return False
    cx = min(max(x, left + radius), left + width - radius)
    cy = min(max(y, top + radius), top + height - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def colour_at(x: float, y: float, full_bleed: bool, scale: float) -> tuple[int, int, int, int]:
    """The icon's colour at (x, y) in the SVG's 96-unit box; ``scale`` shrinks the shapes about
    the centre (maskable icons keep them inside the middle 80 %)."""
    if not full_bleed and not rounded(x, y, 0, 0, 96, 96, 20):
        return (0, 0, 0, 0)
    sx, sy = 48 + (x - 48) / scale, 48 + (y - 48) / scale
    if rounded(sx, sy, 48, 38, 26, 22, 11) and sx >= 48:
        return (*LIGHT, 255)
    if rounded(sx, sy, 22, 38, 52, 22, 11) or (sx - 48) ** 2 + (sy - 22) ** 2 <= 36:
        return (*WHITE, 255)
    return (*BLUE, 255)


def draw(size: int, full_bleed: bool = False, scale: float = 1.0) -> bytes:
    rows = []
    for py in range(size):
        row = bytearray([0])  # filter type 0 for each scanline
        for px in range(size):
            total = [0, 0, 0, 0]
            for i in range(SAMPLES):
                for j in range(SAMPLES):
                    x = (px + (i + 0.5) / SAMPLES) * 96 / size
                    y = (py + (j + 0.5) / SAMPLES) * 96 / size
                    for k, value in enumerate(colour_at(x, y, full_bleed, scale)):
                        total[k] += value
            row += bytes(round(v / SAMPLES**2) for v in total)
        rows.append(bytes(row))
    return png(size, b"".join(rows))


def png(size: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icon-192.png").write_bytes(draw(192))
    (OUT / "icon-512.png").write_bytes(draw(512))
    (OUT / "maskable-512.png").write_bytes(draw(512, full_bleed=True, scale=0.8))
    (OUT / "apple-touch-icon.png").write_bytes(draw(180, full_bleed=True))


if __name__ == "__main__":
    main()
