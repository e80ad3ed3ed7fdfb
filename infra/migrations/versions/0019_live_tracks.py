"""live_tracks: work done on a participant's live chunks while the room is live (speech
activity, transcript pieces), with the chunk chain and settings it was computed from

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_tracks",
        sa.Column(
            "participant_id", sa.String(32), sa.ForeignKey("participants.id"), primary_key=True
        ),
        sa.Column("space_id", sa.String(32), sa.ForeignKey("spaces.id"), nullable=False),
        sa.Column("queued", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("settings_fp", sa.String(64), nullable=False, server_default=""),
        sa.Column("chain_seq", sa.Integer(), nullable=False, server_default="-1"),
        sa.Column("chain_fp", sa.String(64), nullable=False, server_default=""),
        sa.Column("chain_end_sample", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("done_s", sa.Float(), nullable=False, server_default="0"),
        sa.Column("segments", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("transcribed_s", sa.Float(), nullable=False, server_default="0"),
        sa.Column("transcript_keys", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("cpu_s", sa.Float(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_live_tracks_space_id", "live_tracks", ["space_id"])


def downgrade() -> None:
    op.drop_index("ix_live_tracks_space_id", table_name="live_tracks")
    op.drop_table("live_tracks")
