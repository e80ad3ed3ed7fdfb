"""stage_runs.subject: room for the part of a track a transcription run covers
(``<participant id>:<k>``)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stage_runs") as batch_op:
        batch_op.alter_column(
            "subject", existing_type=sa.String(32), type_=sa.String(40), existing_nullable=False
        )


def downgrade() -> None:
    op.execute("DELETE FROM stage_runs WHERE length(subject) > 32")
    with op.batch_alter_table("stage_runs") as batch_op:
        batch_op.alter_column(
            "subject", existing_type=sa.String(40), type_=sa.String(32), existing_nullable=False
        )
