"""host_audio: a show's own audio (intros, outros, music beds), probed like tracks;
episodes: how long the intro of the current rendering is (the room starts that late)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 01:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_audio",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id"), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("object_key", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("format_name", sa.String(100), nullable=False),
        sa.Column("codec", sa.String(50), nullable=False),
        sa.Column("sample_rate_hz", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("integrated_lufs", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.add_column(sa.Column("lead_s", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.drop_column("lead_s")
    op.drop_table("host_audio")
