"""The queue: the Dramatiq broker chosen by ``SPACECAST_BROKER_URL`` (``redis://``, ``amqp://``,
or ``stub://`` in-process for the embedded demo), installed explicitly by each process when it
starts, and :func:`enqueue`, the one way anything asks a worker for work.

Messages are sent by actor name, so the API and the services send work without importing worker
code; :data:`ACTOR_QUEUES` is the table of which queue each actor listens on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import CurrentMessage

from infra.settings import get_settings

log = logging.getLogger("spacecast.queue")

QUEUES = ("control", "audio", "transcribe", "clips", "live")
ACTOR_QUEUES = {
    "advance_space": "control",
    "resume_stalled": "control",
    "stage_gave_up": "control",
    "sweep_vault": "control",
    "publish_space": "control",
    "detect_activity": "audio",
    "check_bleed": "audio",
    "mix_space": "audio",
    "master_space": "audio",
    "transcribe_participant": "transcribe",
    "prepare_review": "transcribe",
    "render_clip_audio": "clips",
    "render_clip_audiogram": "clips",
    "live_track": "live",
}
# The actor each pipeline stage runs as.
STAGE_ACTORS = {
    "activity": "detect_activity",
    "transcribe": "transcribe_participant",
    "bleed": "check_bleed",
    "mix": "mix_space",
    "master": "master_space",
    "publish": "publish_space",
}
# How long a send keeps trying while the broker is unreachable (a restart takes seconds).
SEND_WITHIN_S = 60.0


def _redis_broker_class():
    """Dramatiq's Redis broker, whose consumer, when it starts again after a connection error,
    first puts back on its queue the messages this process fetched and has not acknowledged.
    A fetch whose answer was lost (a connection reset or timed out mid-reply) leaves messages
    in the process's acknowledgement set that no thread holds, and Dramatiq hands them back
    only once the process is dead. Messages still being worked on are put back too: their
    stage is held by its live attempt (``workers.runs``) or already done, so the copy starts
    nothing."""
    from dramatiq.brokers.redis import RedisBroker, _RedisConsumer

    class Consumer(_RedisConsumer):
        def __init__(self, broker, queue_name, prefetch, timeout):
            super().__init__(broker, queue_name, prefetch, timeout)
            acks = f"{broker.namespace}:__acks__.{broker.broker_id}.{queue_name}"
            try:
                held = [m.decode() for m in broker.client.smembers(acks)]
                if held:
                    broker.do_requeue(queue_name, *held)
                    log.warning("%d unacknowledged messages of %s put back", len(held), queue_name)
            except redis_errors() as exc:
                raise ConnectionClosed(exc) from None

    class SpacecastRedisBroker(RedisBroker):
        @property
        def consumer_class(self):
            return Consumer

    return SpacecastRedisBroker


def redis_errors() -> tuple[type[Exception], ...]:
    import redis

    return (redis.ConnectionError, redis.TimeoutError)


def queue_name(name: str) -> str:
    """A queue's name with the deployment's prefix (``SPACECAST_QUEUE_PREFIX``)."""
    return f"{get_settings().queue_prefix}{name}"


def build_broker(url: str) -> dramatiq.Broker:
    if url.startswith(("redis://", "rediss://", "unix://")):
        _RedisBroker = _redis_broker_class()
        settings = get_settings()
        import redis

        # Every command bounded: a Redis that accepts bytes and never answers raises a
        # connection error (sends retry, consumers reconnect) instead of hanging a process.
        client = redis.Redis.from_url(
            url,
            socket_timeout=settings.broker_timeout_s,
            socket_connect_timeout=settings.broker_timeout_s,
            socket_keepalive=True,
        )
        # Dramatiq hands a dead worker's unacknowledged messages back only in a maintenance pass
        # (one broker command in a thousand by default, once the worker missed its heartbeats
        # for a minute): on an idle deployment that is an hour or more. One in ten by default.
        broker: dramatiq.Broker = _RedisBroker(
            client=client,
            heartbeat_timeout=int(settings.redis_heartbeat_timeout_s * 1000),
            maintenance_chance=int(settings.redis_maintenance_chance * 1_000_000),
        )
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # Publisher confirms: a send returns once RabbitMQ has taken the message (persisted, for
        # durable queues), and raises when it refuses it, so a caller never believes a lost
        # message sent.
        broker = RabbitmqBroker(url=url, confirm_delivery=True)
    elif url.startswith("stub://"):
        broker = StubBroker()
    else:
        raise ValueError(f"SPACECAST_BROKER_URL: unsupported scheme in {url!r}")
    broker.add_middleware(CurrentMessage())
    return broker


def install_broker(middleware: Iterable[tuple[dramatiq.Middleware, type | None]] = ()):
    """The process's broker, made from the settings the first time and installed as Dramatiq's
    global broker; ``middleware`` (each with the middleware class it goes before, or None) is
    added once. Every queue is declared, so a sender needs no actor of its own."""
    broker = dramatiq.broker.global_broker
    if broker is None:
        broker = build_broker(get_settings().broker_url)
        dramatiq.set_broker(broker)
    present = {type(m) for m in broker.middleware}
    for extra, before in middleware:
        if type(extra) not in present:
            broker.add_middleware(extra, before=before)
    declared = broker.get_declared_queues()
    for name in QUEUES:
        if queue_name(name) not in declared:
            broker.declare_queue(queue_name(name))
    return broker


def enqueue(
    actor_name: str, *args: object, within_s: float = SEND_WITHIN_S, delay_ms: int | None = None
) -> None:
    """Send a message to ``actor_name`` (delivered ``delay_ms`` later when given), retrying with
    backoff while the broker is unreachable; raise if it still is after ``within_s``, so the
    caller's own work is retried rather than silently lost."""
    broker = dramatiq.get_broker() if dramatiq.broker.global_broker else install_broker()
    message = _message(actor_name, args)
    deadline = time.monotonic() + within_s
    delay = 0.25
    while True:
        try:
            broker.enqueue(message, delay=delay_ms)
            return
        except Exception as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "broker unavailable sending %s%s (%r); retrying in %.1f s",
                actor_name,
                args,
                exc,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _message(actor_name: str, args: tuple) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name=queue_name(ACTOR_QUEUES[actor_name]),
        actor_name=actor_name,
        args=args,
        kwargs={},
        options={},
    )


def message_record(actor_name: str, *args: object) -> dict:
    """The message :func:`enqueue` would send, as the broker holds it: what a dead letter
    records of a message the flow stops sending, so retrying the letter sends it."""
    return _message(actor_name, args).asdict()


def enqueue_message(data: dict) -> None:
    """Send again a message as the broker held it (a dead letter, its retries reset)."""
    broker = dramatiq.get_broker() if dramatiq.broker.global_broker else install_broker()
    broker.enqueue(dramatiq.Message(**data))


def broker_lost_messages(url: str, timeout_s: float = 10.0) -> bool:
    """Whether the broker lost what it held since this was last asked: a marker is kept in the
    broker beside the deployment's queues, and a broker that comes back without it (Redis
    restarted without its append-only file, a RabbitMQ node reset) has lost every message too.
    The first call of a deployment finds no marker either; the caller's answer (send again
    what is in flight) is harmless then."""
    marker = queue_name("broker-epoch")
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        try:
            return bool(client.set(f"dramatiq:{marker}", "1", nx=True))
        finally:
            client.close()
    if url.startswith(("amqp://", "amqps://")):
        import pika

        parameters = pika.URLParameters(url)
        parameters.socket_timeout = timeout_s
        parameters.blocked_connection_timeout = timeout_s
        parameters.stack_timeout = timeout_s
        connection = pika.BlockingConnection(parameters)
        try:
            try:
                connection.channel().queue_declare(queue=marker, passive=True)
                return False
            except pika.exceptions.ChannelClosedByBroker:
                connection.channel().queue_declare(queue=marker, durable=True)
                return True
        finally:
            connection.close()
    return False  # stub://: the messages live and die with this process


def broker_probe(url: str, timeout_s: float) -> Callable[[], None]:
    """A check that the broker answers, each network wait bounded by ``timeout_s``: a Redis
    PING, or an AMQP connection opened and closed. Its own connection, not the process's
    broker's, so a slow probe never holds up a send."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

        def ping() -> None:
            if not client.ping():
                raise ConnectionError("Redis did not answer PING")

        return ping
    if url.startswith(("amqp://", "amqps://")):
        import pika

        def probe() -> None:
            parameters = pika.URLParameters(url)
            parameters.socket_timeout = timeout_s
            parameters.blocked_connection_timeout = timeout_s
            parameters.stack_timeout = timeout_s
            pika.BlockingConnection(parameters).close()

        return probe
    return lambda: None  # stub://: in this process


def queue_depths(url: str, timeout_s: float) -> dict[str, dict[str, int]]:
    """Messages held per queue (with the deployment's prefix): ``ready`` (waiting, and on Redis
    also fetched but not acknowledged), ``delayed`` (retries waiting out their backoff) and
    ``dead`` (out of retries)."""
    names = {name: queue_name(name) for name in QUEUES}
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        pipe = client.pipeline(transaction=False)
        for full in names.values():
            key = f"dramatiq:{full}"
            pipe.hlen(f"{key}.msgs")
            pipe.hlen(f"{key}.DQ.msgs")
            pipe.zcard(f"{key}.XQ")
        counts = pipe.execute()
        client.close()
        return {
            name: dict(zip(("ready", "delayed", "dead"), counts[3 * i : 3 * i + 3], strict=True))
            for i, name in enumerate(names)
        }
    if url.startswith(("amqp://", "amqps://")):
        import pika

        parameters = pika.URLParameters(url)
        parameters.socket_timeout = timeout_s
        parameters.blocked_connection_timeout = timeout_s
        parameters.stack_timeout = timeout_s
        connection = pika.BlockingConnection(parameters)
        try:
            depths = {}
            for name, full in names.items():
                counts = []
                for queue in (full, f"{full}.DQ", f"{full}.XQ"):
                    channel = connection.channel()
                    try:
                        declared = channel.queue_declare(queue=queue, passive=True)
                        counts.append(declared.method.message_count)
                        channel.close()
                    except pika.exceptions.ChannelClosedByBroker:
                        counts.append(0)  # not declared yet: nothing was ever sent to it
                depths[name] = dict(zip(("ready", "delayed", "dead"), counts, strict=True))
            return depths
        finally:
            connection.close()
    return {}
