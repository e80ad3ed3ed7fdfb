"""live ingest: track chunks and their assembly; dead letters

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tracks") as batch_op:
        batch_op.add_column(sa.Column("chunk_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("chunks_sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "track_chunks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("space_id", sa.String(length=32), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("start_sample", sa.BigInteger(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=500), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("participant_id", "seq"),
    )
    op.create_index("ix_track_chunks_space_id", "track_chunks", ["space_id"])
    op.create_index("ix_track_chunks_participant_id", "track_chunks", ["participant_id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("queue_name", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("space_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("failed_at", TZ, nullable=False),
        sa.Column("retried_at", TZ, nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_dead_letters_space_id", "dead_letters", ["space_id"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_space_id", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_index("ix_track_chunks_participant_id", table_name="track_chunks")
    op.drop_index("ix_track_chunks_space_id", table_name="track_chunks")
    op.drop_table("track_chunks")
    with op.batch_alter_table("tracks") as batch_op:
        batch_op.drop_column("chunks_sha256")
        batch_op.drop_column("chunk_count")
