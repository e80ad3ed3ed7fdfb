"""Preview of one cut: only the seconds around it (the room before the cut, the seam with the
episode's own crossfade, the room after it) rendered from the mix at the delivered file's gain
and limiter, as a short MP3 the editor plays, without rendering the episode.

The seam is made by the same filter as the episode's (``pipeline.edits.cut_filter``), so what
the host hears at the cut is what the episode will hold there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from pipeline.edits import EditPlan, cut_filter
from pipeline.errors import InvalidEdit
from pipeline.ffmpeg import ALLOWED_DEMUXERS, output_path, run_ffmpeg
from pipeline.master import MP3, Treatment, treatment_chain

AROUND_S = 4.0  # heard on each side of a cut


@dataclass(frozen=True)
class CutPreview:
    path: Path
    room_start_s: float  # the room heard first in the preview
    seam_at_s: float  # where in the preview the cut is (the middle of its crossfade)
    duration_s: float
    wall_s: float


def seam_plan(plan: EditPlan, index: int, *, around_s: float = AROUND_S) -> EditPlan:
    """The two stretches of the room around the plan's cut ``index`` (from 0, in the order of
    ``plan.removed``): up to ``around_s`` of the kept span before it and of the one after."""
    if not 0 <= index < len(plan.removed):
        raise InvalidEdit(
            f"cut {index + 1}: the version has {len(plan.removed)} cut(s) between kept stretches"
        )
    (a0, b0), (a1, b1) = plan.kept[index], plan.kept[index + 1]
    return EditPlan(
        kept=((max(a0, b0 - around_s), b0), (a1, min(b1, a1 + around_s))),
        crossfade_s=plan.crossfade_s,
    )


def _source_args(mix: str | Path) -> tuple[str, str]:
    """ffmpeg's input name and protocol whitelist for ``mix``: a local file, or an HTTP(S) URL
    of the bucket object (a presigned GET: ffmpeg reads only the byte ranges it seeks to)."""
    text = str(mix)
    if text.startswith(("http://", "https://")):
        return text, "http,https,tcp,tls,crypto"
    return f"file:{text}", "file"


def render_cut_preview(
    mix: str | Path,
    mix_start_s: float,
    plan: EditPlan,
    index: int,
    out: Path,
    *,
    treatment: Treatment,
    timeout_s: float,
    around_s: float = AROUND_S,
) -> CutPreview:
    """Render cut ``index`` of ``plan`` from ``mix`` (a path or URL; its first sample is room time
    ``mix_start_s``) into ``out`` (MP3) with ``treatment`` (the delivered episode's gain and
    limiter, so it plays at the episode's level). Only the seconds around the cut are read: the
    mix is entered at the first of them and left after the last."""
    around = seam_plan(plan, index, around_s=around_s)
    first, last = around.kept[0][0], around.kept[-1][1]
    name, protocols = _source_args(mix)
    source = ffmpeg.input(
        name,
        ss=f"{max(0.0, first - mix_start_s):.6f}",
        t=f"{last - first + around.crossfade_s:.6f}",
        protocol_whitelist=protocols,
        format_whitelist=ALLOWED_DEMUXERS,
    ).audio
    cut = cut_filter(source, around, mix_start_s=max(first, mix_start_s))
    chain = treatment_chain(cut, treatment)
    args = ffmpeg.output(chain, output_path(out), ar=MP3.rate_hz, **MP3.codec_args).compile(cmd=[])
    run = run_ffmpeg(args, timeout_s=timeout_s, what=f"previewing cut {index + 1}")
    left = around.kept[0][1] - around.kept[0][0]
    return CutPreview(
        path=out,
        room_start_s=first,
        seam_at_s=left,
        duration_s=around.duration_s,
        wall_s=run.wall_s,
    )
