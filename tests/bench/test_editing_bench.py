"""The editing benchmark at a small scale (4 x 1 min, 3 cuts) must run and report what it
measures; the delivered file is as long as the edit plan says. Timings belong to
bench/RESULTS.md."""

import json
from pathlib import Path

import pytest

from bench.editing import main

pytestmark = pytest.mark.slow


def test_editing_benchmark_renders_the_edit_and_reports_it(tmp_path: Path) -> None:
    out = tmp_path / "editing.json"
    args = ["--minutes", "1", "--cuts", "3", "--cache", str(tmp_path), "--out", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["edits"]["cuts"] == 3 and report["edits"]["removed_s"] > 9.0
    assert abs(report["delivered"]["duration_error_ms"]) < 60
    assert abs(report["delivered"]["integrated_lufs"] + 16.0) <= 0.5
    assert report["delivered"]["true_peak_dbtp"] <= -1.0
    assert report["edit_to_rendered_s"] > 0 and report["preview_ms"] >= 0
    # An edit reads the tracks' preparation back instead of measuring the four tracks again.
    assert report["preparation"]["read_back_s"] < report["preparation"]["measured_s"]
    assert report["edit_to_rendered_s"] < report["edit_to_rendered_remeasuring_s"]
    # The edit's mix spliced from the first rendering's: the mute's stretch alone mixed again,
    # the loudness as the whole mix measures it.
    splice = report["splice"]
    assert 10.0 <= splice["stretches_s"] <= 12.0  # the 10 s mute and its padding
    assert splice["spliced_s"] > 0 and splice["mixed_whole_s"] > 0
    spliced, whole = splice["integrated_lufs"]["spliced"], splice["integrated_lufs"]["whole"]
    assert abs(spliced - whole) <= 0.05
