"""The load benchmarks at a small scale: recorders streaming live chunks into the real service
get every acknowledged chunk back byte for byte from the assembled tracks on the S3 server, and a
clip's share page and audio asked for many times a second while another space processes are
served without a 5xx and with the clip's own bytes. Latencies are reported, not asserted; the
full-size figures belong to bench/RESULTS.md."""

import json
from pathlib import Path

import pytest

from bench import clip_load, ingest_load

pytestmark = pytest.mark.slow


def test_every_acknowledged_live_chunk_is_byte_exact_in_the_assembled_tracks(
    tmp_path: Path,
) -> None:
    args = ["--participants", "4", "--seconds", "6", "--out", str(tmp_path)]
    assert ingest_load.main(args) == 0

    report = json.loads((tmp_path / "ingest-load-4x6s.json").read_text())
    assert (tmp_path / "ingest-load-4x6s.md").read_text().startswith("## Live ingest: 4")
    check, ingest = report["check"], report["ingest"]
    assert check["acknowledged_chunks"] == 4 * 6
    assert check["byte_exact"] == 4 * 6 and check["all_exact"], check["problems"]
    assert ingest["server_errors"] == 0 and ingest["transport_errors"] == 0
    assert ingest["by_status"] == {"201": 24}
    assert report["assemble"]["by_status"] == {"201": 4}
    assert ingest["p99_ms"] > 0 and ingest["cpu"]["api"]["cpu_s"] > 0


def test_a_clip_under_a_burst_of_requests_is_served_whole_without_a_5xx(tmp_path: Path) -> None:
    args = ["--rate", "40", "--seconds", "3", "--out", str(tmp_path)]
    assert clip_load.main(args) == 0

    report = json.loads((tmp_path / "clip-load-40x3s-proxy.json").read_text())
    assert report["all"]["requests"] == report["scheduled"] == 120
    assert report["page"]["by_status"] == {"200": 60}
    assert report["audio"]["by_status"] == {"200": 60}
    assert report["audio_corrupt"] == 0 and report["unanswered"] == 0
    assert report["other_space"]["status_after"] in ("processing", "published")
    assert report["cpu"]["api"]["cpu_s_per_1000_requests"] > 0
