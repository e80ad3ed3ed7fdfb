"""Application services: each module owns one business action's rules and its transaction
(consent answers, participants' own keys, what may be served and taking it down, ...). Routes
and actors parse, authorize and call one of them; services call ``pipeline`` for pure logic and
``infra`` for storage, the database and the queue, and never the API or worker layers."""

from services import feed_versions  # noqa: F401 - keeps every show's feed version, on any session
