"""stage_runs: the attempts made at the run's current inputs, counted from 0 again when they
change (or a failed space is reopened), so a stage that dies without recording an outcome is
sent again only as often as the queue would retry it

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 14:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stage_runs") as batch_op:
        batch_op.add_column(
            sa.Column("attempts_at_fingerprint", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("stage_runs") as batch_op:
        batch_op.drop_column("attempts_at_fingerprint")
