"""The Dramatiq broker, chosen by ``SPACECAST_BROKER_URL``: ``redis://``, ``amqp://`` or
``stub://`` (in-process, for the embedded demo). Importing this module installs it."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from infra.settings import get_settings


def build_broker(url: str) -> dramatiq.Broker:
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(url=url)
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    elif url.startswith("stub://"):
        broker = StubBroker()
    else:
        raise ValueError(f"SPACECAST_BROKER_URL: unsupported scheme in {url!r}")
    broker.add_middleware(CurrentMessage())
    return broker


def queue(name: str) -> str:
    """Queue name with the deployment's prefix."""
    return f"{get_settings().queue_prefix}{name}"


broker = build_broker(get_settings().broker_url)
dramatiq.set_broker(broker)
