"""participants: the room time at which a participant's recording ended, as the room service
reports it (optional); with it, a whole-file track's clock drift is measured by its length

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch_op:
        batch_op.add_column(sa.Column("end_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch_op:
        batch_op.drop_column("end_s")
