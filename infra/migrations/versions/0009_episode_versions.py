"""episode versions: a host's edit lists, the version an episode renders and the room spans its
rendering kept

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "episode_versions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("episode_id", sa.String(32), sa.ForeignKey("episodes.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("operations", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("episode_id", "number"),
    )
    op.create_index("ix_episode_versions_episode_id", "episode_versions", ["episode_id"])
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.add_column(
            sa.Column("edit_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("rendered_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("kept", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.drop_column("kept")
        batch_op.drop_column("rendered_version")
        batch_op.drop_column("edit_version")
    op.drop_index("ix_episode_versions_episode_id", table_name="episode_versions")
    op.drop_table("episode_versions")
