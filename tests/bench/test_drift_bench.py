"""The hour-long drift benchmark at a small scale (2 min, a recorder 0.1 % fast) must run and
report what it measures: the drift read from the declared end and corrected in one run, not in
the other, and the drifted speaker's lines at the end found and attributed in both. Timings
belong to bench/RESULTS.md."""

import json
from pathlib import Path

import pytest

from bench.drift import main

pytestmark = pytest.mark.slow


def test_drift_benchmark_runs_both_ways_and_reports_it(tmp_path: Path) -> None:
    out = tmp_path / "drift.json"
    assert main(["--minutes", "2", "--ppm", "1000", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["estimate_ppm"] == pytest.approx(
        report["true_ppm"], abs=report["uncertainty_ppm"]
    )
    assert report["correction_alone"]["cpu_s"] > 0
    runs = report["runs"]
    declared, plain = runs["with end"], runs["without end (as recorded)"]
    assert declared["drift"]["method"] == "length" and declared["drift"]["corrected"]
    assert plain["drift"] is None
    assert not runs["accurate clock"]["drift"]["corrected"]
    for run in runs.values():
        late = [line for line in run["lines"] if line["room_onset_s"] > 60]
        assert late and all(line["speaker"] == "Ben" for line in late), run["lines"]
        assert all(abs(line["error_s"]) < 1.0 for line in late), run["lines"]
