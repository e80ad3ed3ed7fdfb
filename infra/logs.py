"""Logging: every line of work names the space, the stage and the participant it is about."""

from __future__ import annotations

import logging


class _StageLog(logging.LoggerAdapter):
    def process(self, msg, kwargs):
        return f"[{self.extra['context']}] {msg}", kwargs


def stage_logger(space_id: str, stage: str, subject: str = "") -> logging.LoggerAdapter:
    """A logger whose every line names the space, the stage and the participant."""
    context = f"space={space_id} stage={stage}" + (f" participant={subject}" if subject else "")
    return _StageLog(logging.getLogger("spacecast.worker"), {"context": context})
