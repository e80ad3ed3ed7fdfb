"""A plain square cover image for shows that bring none (Apple asks for 1400-3000 px artwork)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pipeline.ffmpeg import lavfi_input, output_path, run_ffmpeg

COVER_SIZE_PX = 1400
_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
)


def render_cover(title: str, out: Path) -> Path:
    """Write a PNG cover with ``title`` on it (or without text when no font is installed)."""
    font = next((f for f in _FONTS if f.is_file()), None)
    with tempfile.TemporaryDirectory(prefix="spacecast-cover-") as tmp:
        filters = "format=rgb24"
        if font is not None:
            # The title goes through a file so no character of it is parsed as filter syntax.
            text_file = Path(tmp) / "title.txt"
            text_file.write_text(title[:60], encoding="utf-8")
            size = max(40, min(110, 2200 // max(1, len(title[:60]))))
            filters = (
                f"drawtext=fontfile={font}:textfile={text_file}:fontcolor=white:fontsize={size}:"
                "expansion=none:x=(w-text_w)/2:y=(h-text_h)/2,format=rgb24"
            )
        run_ffmpeg(
            [
                *lavfi_input(f"color=c=0x1d3557:s={COVER_SIZE_PX}x{COVER_SIZE_PX}:d=1"),
                "-vf",
                filters,
                "-frames:v",
                "1",
                "-update",
                "1",
                output_path(out),
            ],
            timeout_s=60,
            what="rendering the cover image",
        )
    return out
