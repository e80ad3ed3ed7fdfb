"""erasure requests: a participant's request to erase their voice, its clock and its proof

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 22:30:00
"""

import sqlalchemy as sa
from alembic import op

TZ = sa.DateTime(timezone=True)

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "participant_id", sa.String(32), sa.ForeignKey("participants.id"), nullable=False
        ),
        sa.Column("space_id", sa.String(32), sa.ForeignKey("spaces.id"), nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.Column("extended_months", sa.Integer(), nullable=False),
        sa.Column("extension_reason", sa.Text()),
        sa.Column("assets", sa.JSON(), nullable=False),
        sa.Column("closed_at", TZ),
        sa.Column("closed_by", sa.String(100)),
        sa.Column("proof", sa.JSON(), nullable=False),
    )
    op.create_index("ix_erasure_requests_participant_id", "erasure_requests", ["participant_id"])
    op.create_index("ix_erasure_requests_space_id", "erasure_requests", ["space_id"])


def downgrade() -> None:
    op.drop_table("erasure_requests")
