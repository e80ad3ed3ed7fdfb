"""shows: whether each speaker's track is processed (repaired, leveled) before the mix (on for
every show, as new shows are)

Revision ID: 0011b
Revises: 0012
Create Date: 2026-12-01 22:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011b"
down_revision = "0012"
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
