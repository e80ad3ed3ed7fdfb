from datetime import UTC, datetime, timedelta

from pipeline.consent import (
    ConsentEntry,
    Participation,
    decide_publication,
    derive_states,
    entries_from_shorthand,
    snapshot,
    snapshot_allowed,
)

T0 = datetime(2026, 11, 20, 18, tzinfo=UTC)


def entry(pid: str, purpose: str, granted: bool, minutes: int = 0) -> ConsentEntry:
    return ConsentEntry(
        pid, purpose, granted, T0 + timedelta(minutes=minutes), "in_room_prompt", pid
    )


def test_latest_entry_per_purpose_wins_and_withdrawals_are_remembered() -> None:
    states = derive_states(
        [
            entry("bruno", "record", True),
            entry("bruno", "publish", True, 1),
            entry("bruno", "publish", False, 30),
        ]
    )
    bruno = states["bruno"]
    assert bruno.record is True and bruno.publish is False
    assert bruno.withdrawn == {"publish"}
    assert bruno.transcribe is None  # never answered


def test_record_is_the_moderators_copy_alone_and_publication_stands_on_its_own() -> None:
    states = derive_states([entry("dan", "publish", True), entry("dan", "transcribe", True)])
    dan = states["dan"]
    assert not dan.allows("record")
    assert dan.allows("publish") and dan.allows("transcribe")
    # His track is kept as the stem of a published voice, not as the moderators' copy.
    assert dan.keeps_track(vault_open=True) and dan.keeps_track(vault_open=False)
    only_record = derive_states([entry("eve", "record", True)])["eve"]
    assert only_record.keeps_track(vault_open=True) and not only_record.keeps_track(
        vault_open=False
    )
    assert not only_record.allows("publish")
    words_need_the_voice = derive_states([entry("fay", "transcribe", True)])["fay"]
    assert not words_need_the_voice.allows("transcribe")


def test_someone_who_answered_only_record_holds_publication_as_missing() -> None:
    states = derive_states([entry("eve", "record", True)])
    decision = decide_publication([Participation("eve", "Eve")], states)
    assert [(e.participant_id, e.status) for e in decision.missing] == [("eve", "not answered")]


def test_shorthand_expands_into_entries_with_transcribe_and_clip_following_publish() -> None:
    entries = entries_from_shorthand(
        "alice", {"record": True, "publish": True}, at=T0, source="api", actor="host"
    )
    assert {(e.purpose, e.granted) for e in entries} == {
        ("record", True), ("publish", True), ("transcribe", True), ("clip", True)
    }  # fmt: skip
    words_withheld = entries_from_shorthand(
        "alice",
        {"record": True, "publish": True, "transcribe": False},
        at=T0,
        source="api",
        actor="host",
    )
    assert ("transcribe", False) in {(e.purpose, e.granted) for e in words_withheld}
    assert entries_from_shorthand("x", {}, at=T0, source="api", actor="host") == []


def test_decision_separates_refused_withdrawn_and_unanswered() -> None:
    people = [Participation(p, p.title()) for p in ("alice", "bruno", "chioma", "dan", "eve")]
    states = derive_states(
        [
            *entries_from_shorthand(
                "alice", {"record": True, "publish": True}, at=T0, source="api", actor="a"
            ),
            *entries_from_shorthand(
                "bruno", {"record": True, "publish": False}, at=T0, source="api", actor="b"
            ),
            *entries_from_shorthand(
                "chioma", {"record": True, "publish": True}, at=T0, source="api", actor="c"
            ),
            entry("chioma", "publish", False, 5),
            entry("dan", "record", True),
            *entries_from_shorthand(
                "eve",
                {"record": True, "publish": True, "transcribe": False},
                at=T0,
                source="api",
                actor="e",
            ),
        ]
    )
    decision = decide_publication(people, states)
    assert decision.audible == ("alice", "eve")
    assert decision.transcribed == ("alice",)
    statuses = {(e.participant_id, e.excluded_from): e.status for e in decision.exclusions}
    assert statuses == {
        ("bruno", "episode"): "refused",
        ("chioma", "episode"): "withdrawn",
        ("dan", "episode"): "not answered",
        ("eve", "transcript"): "refused",
    }
    assert [m.participant_id for m in decision.missing] == ["dan"]


def test_an_artifact_stops_being_servable_when_a_speaker_in_it_withdraws() -> None:
    entries = [
        *entries_from_shorthand(
            "alice", {"record": True, "publish": True}, at=T0, source="api", actor="a"
        )
    ]
    decision = decide_publication([Participation("alice", "Alice")], derive_states(entries))
    taken = snapshot(decision)
    assert snapshot_allowed(taken, derive_states(entries))
    assert not snapshot_allowed(
        taken, derive_states([*entries, entry("alice", "publish", False, 60)])
    )
    assert not snapshot_allowed(
        taken, derive_states([*entries, entry("alice", "transcribe", False, 60)])
    )
    assert snapshot_allowed(taken, derive_states([*entries, entry("alice", "clip", False, 60)]))


def reported(pid: str, purpose: str, granted: bool, minutes: int = 0) -> ConsentEntry:
    return ConsentEntry(
        pid, purpose, granted, T0 + timedelta(minutes=minutes), "reported_by_host", "user:host"
    )


def own(pid: str, purpose: str, granted: bool, minutes: int = 0) -> ConsentEntry:
    return ConsentEntry(
        pid,
        purpose,
        granted,
        T0 + timedelta(minutes=minutes),
        "in_room_prompt",
        f"participant:{pid}",
    )


def test_a_report_never_overrides_the_participants_own_answer_whatever_the_order() -> None:
    later_report = derive_states(
        [
            reported("bruno", "record", True),
            own("bruno", "publish", False, 1),
            reported("bruno", "publish", True, 2),  # the host "says" he agreed after all
        ]
    )["bruno"]
    assert later_report.publish is False and not later_report.allows("publish")
    # A report stands only while the participant has said nothing themselves.
    until_own = derive_states([reported("dan", "record", True), reported("dan", "publish", True)])
    assert until_own["dan"].allows("publish")
    overridden = derive_states(
        [
            reported("dan", "record", True),
            reported("dan", "publish", True),
            own("dan", "publish", False, 5),
        ]
    )["dan"]
    assert overridden.publish is False and overridden.withdrawn == {"publish"}


def test_the_purposes_a_participant_answered_themselves_are_known() -> None:
    from pipeline.consent import answered_by_participant

    entries = [reported("a", "record", True), own("a", "publish", True), own("b", "clip", False)]
    assert answered_by_participant(entries, "a") == {"publish"}
