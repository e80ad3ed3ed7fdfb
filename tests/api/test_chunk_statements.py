"""What an acknowledged live chunk costs the database, counted on real PostgreSQL: every
statement and every transaction boundary of one chunk PUT is a round trip a recorder waits for
when 48 of them send at once (``bench/ingest_load.py``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from sqlalchemy import event

from tests.api.conftest import World
from tests.api.test_chunks import _space

RATE = 48_000

# One chunk PUT acknowledged with 201, after the participant's first chunk (the live row and
# the neighbours exist), with live work on: see docs/decisions.md ("A live chunk's round trips").
STATEMENTS_PER_CHUNK = 9  # 15 before
ROUND_TRIPS_PER_CHUNK = 18  # with the 3 transactions' pings, BEGINs and COMMITs; 27 before


@contextmanager
def _counted() -> Iterator[list[str]]:
    """Every round trip of the API's engine while the block runs: statements as sent, and the
    pool's liveness pings, BEGINs, COMMITs and ROLLBACKs, each named."""
    from infra.db import get_engine
    from infra.settings import get_settings

    engine = get_engine(get_settings().database_url)
    seen: list[str] = []

    def statement(conn, cursor, sql, params, context, executemany) -> None:
        seen.append(" ".join(sql.split()))

    def named(name: str):
        return lambda *args: seen.append(name)

    listeners = [
        (engine, "before_cursor_execute", statement),
        (engine, "begin", named("BEGIN")),
        (engine, "commit", named("COMMIT")),
        (engine, "rollback", named("ROLLBACK")),
        (engine.pool, "checkout", named("(checkout: ping)")),
    ]
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    try:
        yield seen
    finally:
        for target, name, fn in listeners:
            event.remove(target, name, fn)


def _put(world: World, url: str, seq: int, seconds: int = 1) -> int:
    """Chunk ``seq`` of ``seconds``, the chunks before it being as long."""
    samples = seconds * RATE
    data = np.random.default_rng(seq).integers(1000, 20000, samples, dtype=np.int16).tobytes()
    sha = hashlib.sha256(data).hexdigest()
    response = world.client.put(
        f"{url}/{seq}?start_sample={seq * samples}&sha256={sha}",
        content=data,
        headers=world.headers("recorder"),
    )
    return response.status_code


def test_an_acknowledged_chunk_costs_at_most_nine_statements_and_eighteen_round_trips(
    world: World,
) -> None:
    """The key in one statement, the pre-body check in two, the storing transaction in six
    (space, participant with track, their ledger rows, neighbours, the chunk, the live row's
    upsert). More means a check or a bookkeeping step grew a round trip: look at the listing."""
    space_id = _space(world, "stan")
    url = f"/spaces/{space_id}/participants/stan/chunks"
    assert _put(world, url, 0) == 201
    with _counted() as seen:
        assert _put(world, url, 1) == 201
    listing = "\n".join(seen)
    statements = [s for s in seen if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK", "("))]
    print(f"\n{len(statements)} statements, {len(seen)} round trips:\n{listing}")
    assert len(statements) <= STATEMENTS_PER_CHUNK, listing
    assert len(seen) <= ROUND_TRIPS_PER_CHUNK, listing


def test_the_live_step_is_asked_for_once_per_step_of_new_audio_in_the_chunks_transaction(
    world: World,
) -> None:
    """The debounce, one upsert of the storing transaction: the first chunk makes the
    participant's live row, the chunk that completes STEP_S of new audio flips ``queued`` and
    it stays flipped; once a step has run (``queued`` cleared, its chain ending 5 s in) the next
    flip waits for STEP_S past that end, and a finished live row is never asked again; a first
    chunk that holds STEP_S itself asks at once."""
    from sqlalchemy import update

    from infra.db import session_scope
    from infra.models import LiveTrack, Participant
    from infra.settings import get_settings
    from pipeline.live import STEP_S
    from services import live

    step = int(STEP_S)
    assert step == STEP_S and step > 5  # whole 1-s chunks reach it exactly
    space_id = _space(world, "ursa")
    url = f"/spaces/{space_id}/participants/ursa/chunks"
    with session_scope(get_settings().database_url) as session:
        found = session.query(Participant).filter_by(space_id=space_id, handle="ursa").one()
        participant_id = found.id

    def put_and_read(seq: int) -> bool | None:
        assert _put(world, url, seq) == 201  # chunk seq ends (seq + 1) s into the track
        with session_scope(get_settings().database_url) as session:
            row = session.get(LiveTrack, participant_id)
            return None if row is None else row.queued

    def live_row(**values) -> None:
        with session_scope(get_settings().database_url) as session:
            session.execute(
                update(LiveTrack).where(LiveTrack.participant_id == participant_id).values(**values)
            )

    asked = [put_and_read(seq) for seq in range(step + 2)]
    assert asked == [False] * (step - 1) + [True] * 3, asked
    with session_scope(get_settings().database_url) as session:
        live.step_started(session, participant_id)  # a step runs ...
    live_row(chain_end_sample=5 * RATE)  # ... and its chain ends 5 s in
    asked = [put_and_read(seq) for seq in range(step + 2, step + 5)]
    assert asked == [False, False, True], asked  # 5 s + STEP_S: the end of chunk step + 4
    live_row(queued=False, final=True)
    assert put_and_read(step + 5) is False

    other = _space(world, "vera")
    assert _put(world, f"/spaces/{other}/participants/vera/chunks", 0, seconds=step) == 201
    with session_scope(get_settings().database_url) as session:
        rows = session.query(LiveTrack).filter_by(space_id=other)
        assert [row.queued for row in rows] == [True]
