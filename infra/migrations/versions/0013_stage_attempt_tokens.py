"""stage_runs: the token of the attempt that owns the run, checked when a result is committed
(a worker paused past the broker's redelivery must not overwrite the newer attempt's result)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 22:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stage_runs") as batch_op:
        batch_op.add_column(sa.Column("attempt_token", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stage_runs") as batch_op:
        batch_op.drop_column("attempt_token")
