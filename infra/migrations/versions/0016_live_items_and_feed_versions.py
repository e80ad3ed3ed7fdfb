"""shows: the host's choices for the feed (live rooms as podcast:liveItem, podcast:locked) and
the feed's version (changed with whatever the feed holds, so a built feed can be kept);
spaces: the room's address and its live stream; episodes: the host's own show notes and the
episode's number and season in its show (numbered in order of first publication)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 01:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shows") as batch_op:
        batch_op.add_column(
            sa.Column("live_items", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("locked", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("feed_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("season", sa.Integer(), nullable=True))
    with op.batch_alter_table("spaces") as batch_op:
        batch_op.add_column(sa.Column("room_url", sa.String(2000), nullable=True))
        batch_op.add_column(sa.Column("stream_url", sa.String(2000), nullable=True))
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.add_column(sa.Column("host_notes", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("season", sa.Integer(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, show_id FROM episodes ORDER BY show_id, published_at, id")
    ).fetchall()
    counts: dict[str, int] = {}
    for episode_id, show_id in rows:
        counts[show_id] = counts.get(show_id, 0) + 1
        bind.execute(
            sa.text("UPDATE episodes SET number = :n WHERE id = :i"),
            {"n": counts[show_id], "i": episode_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.drop_column("season")
        batch_op.drop_column("number")
        batch_op.drop_column("host_notes")
    with op.batch_alter_table("spaces") as batch_op:
        batch_op.drop_column("stream_url")
        batch_op.drop_column("room_url")
    with op.batch_alter_table("shows") as batch_op:
        batch_op.drop_column("season")
        batch_op.drop_column("feed_version")
        batch_op.drop_column("locked")
        batch_op.drop_column("live_items")
