"""participant grants (join and invite secrets claimed on the participant's own device), who
issued each key, the key behind each ledger entry, takedown provenance, removed ranges, the
speaker as a reporter wrote it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "participant_grants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("space_id", sa.String(length=32), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.Column("issued_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("claimed_at", TZ, nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_sha256"),
    )
    op.create_index(
        "ix_participant_grants_participant_id", "participant_grants", ["participant_id"]
    )
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(sa.Column("issued_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("grant_id", sa.String(length=32), nullable=True))
    # Plain ADD COLUMN: a batch rebuild of the ledger would drop its append-only triggers.
    op.add_column("consent_entries", sa.Column("key_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.add_column(sa.Column("removed_by", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("removal_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("complaints") as batch_op:
        batch_op.add_column(sa.Column("speaker_text", sa.String(length=200), nullable=True))
    op.create_table(
        "removed_ranges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("space_id", sa.String(length=32), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("complaint_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_removed_ranges_space_id", "removed_ranges", ["space_id"])


def downgrade() -> None:
    op.drop_index("ix_removed_ranges_space_id", table_name="removed_ranges")
    op.drop_table("removed_ranges")
    with op.batch_alter_table("complaints") as batch_op:
        batch_op.drop_column("speaker_text")
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.drop_column("removal_reason")
        batch_op.drop_column("removed_by")
    op.drop_column("consent_entries", "key_id")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("grant_id")
        batch_op.drop_column("issued_by")
    op.drop_index("ix_participant_grants_participant_id", table_name="participant_grants")
    op.drop_table("participant_grants")
