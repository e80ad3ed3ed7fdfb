"""complaints as formal notices, emergency takedowns; statements of reasons, appeals and the
moderators' statement templates (DSA articles 16, 17 and 20)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 22:10:00
"""

import sqlalchemy as sa
from alembic import op

TZ = sa.DateTime(timezone=True)

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("complaints") as batch_op:
        batch_op.add_column(
            sa.Column("is_notice", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("notifier_name", sa.String(200)))
        batch_op.add_column(sa.Column("notifier_email", sa.String(320)))
        batch_op.add_column(sa.Column("location_url", sa.String(2000)))
        batch_op.add_column(
            sa.Column("good_faith", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("emergency_at", TZ))
    op.create_table(
        "statements",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("complaint_id", sa.String(32), sa.ForeignKey("complaints.id"), index=True),
        sa.Column("space_id", sa.String(32), sa.ForeignKey("spaces.id"), index=True),
        sa.Column("affected", sa.JSON(), nullable=False),
        sa.Column("restriction", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("ground", sa.Text(), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=False),
        sa.Column("decided_at", TZ, nullable=False),
        sa.Column("appeal_until", TZ, nullable=False),
        sa.Column("lifted_at", TZ),
        sa.Column("lifted_by", sa.String(100)),
        sa.Column("lift_reason", sa.Text()),
    )
    op.create_table(
        "appeals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "complaint_id",
            sa.String(32),
            sa.ForeignKey("complaints.id"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "space_id", sa.String(32), sa.ForeignKey("spaces.id"), nullable=False, index=True
        ),
        sa.Column("appellant", sa.String(100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, index=True),
        sa.Column("decided_by", sa.String(100)),
        sa.Column("decided_at", TZ),
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "reason_templates",
        sa.Column("category", sa.String(30), primary_key=True),
        sa.Column("ground", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reason_templates")
    op.drop_table("appeals")
    op.drop_table("statements")
    with op.batch_alter_table("complaints") as batch_op:
        for column in (
            "emergency_at",
            "good_faith",
            "location_url",
            "notifier_email",
            "notifier_name",
            "is_notice",
        ):
            batch_op.drop_column(column)
