"""shows: whether each speaker's track is processed (repaired, leveled) before the mix (on for
every show, as new shows are)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 22:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shows") as batch_op:
        batch_op.add_column(
            sa.Column("process_speakers", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("shows") as batch_op:
        batch_op.drop_column("process_speakers")
