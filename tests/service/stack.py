"""The loopback deployment the service tests drive (it lives in infra/, the benchmarks use it too)."""

from infra.stack import BROKERS, PG_ADMIN, QUEUES, ServiceStack

__all__ = ["BROKERS", "PG_ADMIN", "QUEUES", "ServiceStack"]
