"""The deployment's figures operators watch, read from the database and the broker when asked:
spaces by status, stage runs by stage and status, dead letters, the sweeper's deletions and
queue depths. The same for every API process (they share the database and the broker)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.models import DeadLetter, Deletion, Space, StageRun


@dataclass(frozen=True)
class DeploymentFigures:
    spaces: dict[str, int] = field(default_factory=dict)  # status -> spaces
    stage_runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (stage, status) -> runs
    dead_letters_pending: int = 0  # not sent again since they were recorded
    dead_letters: int = 0
    deletions_done: int = 0  # vault objects the sweeper deleted and verified gone, ever
    deletions_pending: int = 0  # written down before the delete, not yet verified gone
    deletions_failing: int = 0  # pending ones whose delete was tried and failed


def deployment_figures(session: Session) -> DeploymentFigures:
    spaces = dict(session.execute(select(Space.status, func.count()).group_by(Space.status)).all())
    runs = {
        (stage, status): count
        for stage, status, count in session.execute(
            select(StageRun.stage, StageRun.status, func.count()).group_by(
                StageRun.stage, StageRun.status
            )
        ).all()
    }
    dead_total, dead_pending = session.execute(
        select(func.count(), func.count().filter(DeadLetter.retried_at.is_(None))).select_from(
            DeadLetter
        )
    ).one()
    done, pending, failing = session.execute(
        select(
            func.count().filter(Deletion.deleted_at.is_not(None)),
            func.count().filter(Deletion.deleted_at.is_(None)),
            func.count().filter(Deletion.deleted_at.is_(None), Deletion.attempts > 0),
        ).select_from(Deletion)
    ).one()
    return DeploymentFigures(
        spaces=spaces,
        stage_runs=runs,
        dead_letters_pending=dead_pending,
        dead_letters=dead_total,
        deletions_done=done,
        deletions_pending=pending,
        deletions_failing=failing,
    )
