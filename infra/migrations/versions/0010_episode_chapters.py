"""episodes: the published chapters, and the host's own chapters (which the publish stage keeps)

Revision ID: 0010
Revises: 0011b
Create Date: 2026-12-01 22:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0011b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.add_column(sa.Column("chapters", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("host_chapters", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.drop_column("host_chapters")
        batch_op.drop_column("chapters")
