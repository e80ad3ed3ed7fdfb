import json
from pathlib import Path

import pytest

from pipeline.errors import InvalidManifest
from pipeline.manifest import load_manifest

ISSUE_EXAMPLE = {
    "space": {
        "id": "space-7",
        "title": "Community radio night",
        "started_at": "2026-11-20T18:00:00Z",
        "language": "en",
    },
    "show": {
        "title": "Town Square Live",
        "author": "Alice",
        "description": "...",
        "link": "https://example.org/town-square",
    },
    "participants": [
        {"id": "alice", "name": "Alice", "role": "host", "track": "alice.opus", "offset": 0.0,
         "consent": {"record": True, "publish": True}},
        {"id": "bruno", "name": "Bruno", "role": "speaker", "track": "bruno.opus", "offset": 7.153,
         "consent": {"record": True, "publish": False}},
    ],
}  # fmt: skip


def write(
    folder: Path, data: object, *, tracks: tuple[str, ...] = ("alice.opus", "bruno.opus")
) -> Path:
    for name in tracks:
        (folder / name).write_bytes(b"x")
    path = folder / "space.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_the_issue_example_shape_is_accepted_with_extra_fields(tmp_path: Path) -> None:
    data = json.loads(json.dumps(ISSUE_EXAMPLE))
    data["space"]["room_service"] = "stage-3"
    data["participants"][0]["avatar"] = "https://example.org/a.png"
    manifest, tracks = load_manifest(write(tmp_path, data))
    assert [p.id for p in manifest.participants] == ["alice", "bruno"]
    assert manifest.participants[1].offset == pytest.approx(7.153)
    assert manifest.participants[1].consent.publish is False
    assert tracks["bruno"] == (tmp_path / "bruno.opus").resolve()
    assert manifest.space.started_at.utcoffset().total_seconds() == 0


def test_absent_consent_means_no_consent(tmp_path: Path) -> None:
    from pipeline.process import decide_from_manifest

    data = json.loads(json.dumps(ISSUE_EXAMPLE))
    del data["participants"][0]["consent"]
    manifest, _ = load_manifest(write(tmp_path, data))
    assert manifest.participants[0].consent.publish is None  # not answered
    decision = decide_from_manifest(manifest)
    assert decision.audible == ()
    assert [(e.participant_id, e.status) for e in decision.exclusions] == [
        ("alice", "not answered"),
        ("bruno", "refused"),
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["participants"][1].update(offset=-1), "participants[1].offset"),
        (lambda d: d["participants"][1].update(id="alice"), "appears twice"),
        (lambda d: d["participants"][1].update(track="alice.opus"), "used by two participants"),
        (lambda d: d["participants"].clear(), "participants"),
        (lambda d: d["space"].pop("title"), "space.title"),
        (lambda d: d["participants"][0].update(name="Al<script>"), "participants[0].name"),
    ],
)
def test_invalid_manifests_name_the_file_and_the_field(
    tmp_path: Path, mutate, expected: str
) -> None:
    data = json.loads(json.dumps(ISSUE_EXAMPLE))
    mutate(data)
    with pytest.raises(InvalidManifest) as error:
        load_manifest(write(tmp_path, data))
    message = str(error.value)
    assert message.startswith("space.json: ")
    assert expected in message
    assert "\n" not in message


def test_missing_track_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE, tracks=("alice.opus",))
    with pytest.raises(
        InvalidManifest, match=r"^bruno\.opus: track of participant 'bruno' not found"
    ):
        load_manifest(path)


def test_broken_json_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{"space": {"id": "x",}')
    with pytest.raises(InvalidManifest, match=r"space\.json: not valid JSON \(line 1, column \d+"):
        load_manifest(path)
