"""The feed's version: every commit that changes what a show's feed holds moves the show's
``feed_version`` on, so a feed built at one version can be served again until it moves.

The one place that sees every such change is the ORM's flush (episodes published, republished,
withdrawn or taken down; consent answers; clips marked as soundbites or taken away; removed
stretches; the show's and its spaces' own fields), so the version is kept here, from the rows
each flush writes, not by each service that writes them. The version moves in its own short
transaction right after the commit (never inside it: no lock on the show's row is held while
the writer's transaction runs, so writers of one show never wait on each other for it). A feed
built between the commit and the move is built from the new rows and replaced once more.

Every move is also announced, so an API process can answer polls from memory without reading
the show's row (api/feed_polls.py): at once to :class:`FeedVersionWatch` objects of the process
that wrote, and to every other process through PostgreSQL's ``NOTIFY`` on
:data:`CHANNEL`, sent in the move's transaction (so delivered when, and only if, it commits).
"""

from __future__ import annotations

import logging
import threading
import weakref

from sqlalchemy import event, func, inspect, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from infra.models import Clip, ConsentEntry, Episode, RemovedRange, Show, Space

# Fields of a space that a feed shows (its live item); the others (progress, errors, the
# moderation vault) change often and a feed does not hold them.
_SPACE_FIELDS = ("show_id", "title", "description", "started_at", "status", "finished_at",
                 "room_url", "stream_url")  # fmt: skip
_SHOW_IGNORED = ("feed_version", "process_speakers")
_CLIP_IGNORED = ("replays",)
_KEY = "spacecast.feed_changes"
CHANNEL = "spacecast_feed_versions"  # NOTIFY's payload: the id of a show whose feed moved
APPLICATION = "spacecast-feed-watch"  # the listening connection's name in pg_stat_activity
log = logging.getLogger("spacecast.feed")


def _changed(obj: object, fields: tuple[str, ...] | None, ignored: tuple[str, ...] = ()) -> bool:
    state = inspect(obj)
    names = fields or [a.key for a in state.mapper.column_attrs if a.key not in ignored]
    return any(state.attrs[name].history.has_changes() for name in names)


def _after_flush(session: Session, _context) -> None:
    shows, spaces = session.info.setdefault(_KEY, (set(), set()))
    for obj in (*session.new, *session.deleted):
        _note(obj, shows, spaces)
    for obj in session.dirty:
        if isinstance(obj, Show) and _changed(obj, None, _SHOW_IGNORED):
            shows.add(obj.id)
        elif isinstance(obj, Space) and _changed(obj, _SPACE_FIELDS):
            shows.add(obj.show_id)
        elif isinstance(obj, Clip) and _soundbite(obj) and _changed(obj, None, _CLIP_IGNORED):
            spaces.add(obj.space_id)
        elif isinstance(obj, Episode | ConsentEntry | RemovedRange) and _changed(obj, None):
            _note(obj, shows, spaces)


def _note(obj: object, shows: set[str], spaces: set[str]) -> None:
    if isinstance(obj, Show):
        shows.add(obj.id)
    elif isinstance(obj, Space | Episode):
        shows.add(obj.show_id)
    elif isinstance(obj, Clip):
        if _soundbite(obj):
            spaces.add(obj.space_id)
    elif isinstance(obj, ConsentEntry | RemovedRange):
        spaces.add(obj.space_id)


def _soundbite(clip: Clip) -> bool:
    """The clip is, or was until this flush, a soundbite: the feed lists only those, so the
    clips listeners cut do not make every poll build the feed again."""
    history = inspect(clip).attrs["soundbite"].history
    return bool(clip.soundbite) or any(history.deleted or ())


def _after_commit(session: Session) -> None:
    shows, spaces = session.info.pop(_KEY, (set(), set()))
    shows.discard(None)
    spaces.discard(None)
    if not shows and not spaces:
        return
    of_spaces = select(Space.show_id).where(Space.id.in_(spaces))
    moved = set(shows)  # a deleted show moves no row and is announced all the same
    try:
        with session.get_bind().begin() as connection:
            moved.update(
                connection.scalars(
                    update(Show)
                    .where(or_(Show.id.in_(shows), Show.id.in_(of_spaces)))
                    .values(feed_version=Show.feed_version + 1)
                    .returning(Show.id)
                )
            )
            if connection.dialect.name == "postgresql":
                for show_id in sorted(moved):
                    connection.execute(select(func.pg_notify(CHANNEL, show_id)))
    except SQLAlchemyError:
        # What was written is committed; only the kept feeds lag, for at most
        # SPACECAST_FEED_CACHE_MAX_AGE_S. Failing the writer's request would not undo it.
        log.warning("feed version of shows %s (spaces %s) not moved", sorted(shows),
                    sorted(spaces), exc_info=True)  # fmt: skip
        return
    for watch in list(_WATCHES):
        watch.moved(moved)


def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)


event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_rollback", _after_rollback)


_WATCHES: weakref.WeakSet[FeedVersionWatch] = weakref.WeakSet()


class FeedVersionWatch:
    """What this process knows of moved feed versions without asking the database: a
    generation per show that changes whenever the show's feed version moves (told at once by
    this process's own commits, and by PostgreSQL's notifications from every other process).

    An answer kept under :meth:`mark` is current while :meth:`current` says so: the watch was
    listening before the mark was taken (so no move since can have gone unheard) and no move of
    the show was heard since. While the listening connection is down nothing is current; on
    each new connection every earlier mark stops being current."""

    # How often an idle listening connection is checked; a check unanswered this long ends it.
    RECHECK_S = 5.0
    MAX_SHOWS = 10_000  # shows with a generation; past it every mark is dropped at once

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._conninfo = (
            url.set(drivername="postgresql").render_as_string(hide_password=False)
            if url.get_backend_name() == "postgresql"
            else None  # SQLite: no notifications, so nothing is ever current
        )
        self._lock = threading.Lock()
        self._epoch = 0  # 0: not listening; else the number of the current connection
        self._epochs = 0
        self._generations: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._users = 0  # lifespans running that started it
        _WATCHES.add(self)

    def start(self) -> FeedVersionWatch:
        """Listen until every start has its stop: an app's lifespan may run more than once at a
        time in one process (a client of the app started while another runs), and the last to
        end stops the watch; a start after that listens again."""
        with self._lock:
            self._users += 1
            if self._conninfo is None or self._thread is not None:
                return self
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._listen, args=(self._stop,), name="feed-version-watch", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users or self._thread is None:
                return
            thread, self._thread = self._thread, None
            self._stop.set()
        thread.join(timeout=self.RECHECK_S + 1)
        with self._lock:
            if self._thread is None:
                self._epoch = 0

    @property
    def listening(self) -> bool:
        return self._epoch != 0

    def mark(self, show_id: str) -> tuple[int, int] | None:
        """The show's mark now, to take before reading its row (None: not listening)."""
        with self._lock:
            if not self._epoch:
                return None
            return self._epoch, self._generations.get(show_id, 0)

    def current(self, show_id: str, mark: tuple[int, int]) -> bool:
        """No move of the show's feed version was heard since ``mark`` was taken."""
        epoch, generation = mark
        # Read without the lock: a stale read of two ints only makes a kept answer miss.
        return epoch == self._epoch and generation == self._generations.get(show_id, 0)

    def moved(self, show_ids: set[str] | list[str]) -> None:
        with self._lock:
            if len(self._generations) > self.MAX_SHOWS:
                self._generations.clear()
                self._new_epoch()
            for show_id in show_ids:
                self._generations[show_id] = self._generations.get(show_id, 0) + 1

    def _new_epoch(self) -> None:
        self._epochs += 1
        self._epoch = self._epochs

    def _listen(self, stop: threading.Event) -> None:
        import psycopg

        while not stop.is_set():
            try:
                with psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=5, keepalives=1,
                    keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                    tcp_user_timeout=int(self.RECHECK_S * 1000), application_name=APPLICATION,
                ) as conn:  # fmt: skip
                    conn.execute(f"LISTEN {CHANNEL}")
                    with self._lock:
                        if stop is not self._stop:  # stopped meanwhile, and started anew
                            return
                        self._new_epoch()
                    log.info("listening for feed version moves")
                    while not stop.is_set():
                        for notice in conn.notifies(timeout=self.RECHECK_S):
                            self.moved([notice.payload])
                        # A dead connection raises here; what arrives meanwhile is kept for
                        # the next notifies() (psycopg's backlog).
                        conn.execute("SELECT 1")
            except psycopg.Error as exc:
                log.warning("feed version watch: %s; kept feeds are not served until it "
                            "listens again", exc)  # fmt: skip
            finally:
                with self._lock:
                    if stop is self._stop:  # a newer start's connection is not this one
                        self._epoch = 0
            stop.wait(1.0)
