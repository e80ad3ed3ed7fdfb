"""The live benchmark at a small scale (one room, 4 x 5 min streamed at 8x): recorders stream the
scenario chunk by chunk, the live work keeps up, and at the end the stages adopt every speaker's
live activity and transcript; what was delivered meets the service's promises and the words stay
as good as the whole-track path's (bench/RESULTS.md). Timings are reported, not asserted."""

import json
from pathlib import Path

import pytest

from bench.space import main

pytestmark = pytest.mark.slow


def test_live_benchmark_adopts_the_live_work_and_reports_every_figure(tmp_path: Path) -> None:
    args = ["--live", "--minutes", "5", "--speed", "8", "--out", str(tmp_path)]
    assert main(args) == 0

    report = json.loads((tmp_path / "live-5min-1r-8x.json").read_text())
    assert (tmp_path / "live-5min-1r-8x.md").read_text().startswith("## Live: 1 room(s)")
    (room,) = report["rooms"]
    assert room["finished_to_feed_s"] > 0
    # Every speaker's activity and words were made while the room was live, and adopted.
    assert room["per_participant_runs"] == 8
    assert len(room["adopted"]) == 8, room["adopted"]
    assert report["lag"]["samples"] > 10
    assert report["live_cpu_s"] > 0
    for delivered in room["delivered"].values():
        assert delivered["loudness_error_lu"] <= 0.5
        assert delivered["true_peak_dbtp"] <= -1.0
    assert 0.05 < room["wer"] < 0.22
    assert room["speaker_attribution"] > 0.97
    assert all(v > 0 for v in report["peak_rss_mb"].values())
