"""episodes: the room time of the episode's first sample as a column (it was read out of the
report in four places)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:00:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.add_column(
            sa.Column("timeline_start_s", sa.Float(), nullable=False, server_default="0")
        )
    bind = op.get_bind()
    for episode_id, report in bind.execute(sa.text("SELECT id, report FROM episodes")).fetchall():
        data = json.loads(report) if isinstance(report, str) else (report or {})
        start = float((data.get("episode") or {}).get("timeline_start_s", 0.0))
        bind.execute(
            sa.text("UPDATE episodes SET timeline_start_s = :s WHERE id = :i"),
            {"s": start, "i": episode_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.drop_column("timeline_start_s")
