"""episodes: the published chapters, the host's own chapters (which the publish stage keeps) and the
generated show notes;
served_versions: when each version of a feed or chapters document was first served

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 22:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.add_column(sa.Column("chapters", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("host_chapters", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("notes", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "served_versions",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("etag", sa.String(80), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("served_versions")
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.drop_column("notes")
        batch_op.drop_column("host_chapters")
        batch_op.drop_column("chapters")
