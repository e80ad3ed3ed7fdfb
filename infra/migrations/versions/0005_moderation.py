"""moderation: complaints, an append-only audit log, deletion records, vault state

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("spaces") as batch_op:
        batch_op.add_column(sa.Column("vault_deleted_at", TZ, nullable=True))
    with op.batch_alter_table("participants") as batch_op:
        batch_op.add_column(sa.Column("removed_at", TZ, nullable=True))
        batch_op.add_column(sa.Column("removed_by_complaint", sa.String(length=32), nullable=True))
    with op.batch_alter_table("tracks") as batch_op:
        batch_op.add_column(sa.Column("erase_requested_at", TZ, nullable=True))
    op.create_table(
        "complaints",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("space_id", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=10), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=True),
        sa.Column("episode_id", sa.String(length=32), nullable=True),
        sa.Column("clip_id", sa.String(length=32), nullable=True),
        sa.Column("start_s", sa.Float(), nullable=True),
        sa.Column("end_s", sa.Float(), nullable=True),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reporter", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"]),
        sa.ForeignKeyConstraint(["episode_id"], ["episodes.id"]),
        sa.ForeignKeyConstraint(["clip_id"], ["clips.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_complaints_space_id", "complaints", ["space_id"])
    op.create_index("ix_complaints_status", "complaints", ["status"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("space_id", sa.String(length=32), nullable=True),
        sa.Column("complaint_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_log_space_id", "audit_log", ["space_id"])
    op.create_index("ix_audit_log_complaint_id", "audit_log", ["complaint_id"])
    op.create_table(
        "deletions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("space_id", sa.String(length=32), nullable=False),
        sa.Column("object_key", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("deleted_at", TZ, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deletions_space_id", "deletions", ["space_id"])
    op.create_index("ix_deletions_object_key", "deletions", ["object_key"])
    op.create_index("ix_deletions_deleted_at", "deletions", ["deleted_at"])

    if bind.dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    elif bind.dialect.name == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{operation.lower()} BEFORE {operation} ON "
                "audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    for index, table in (
        ("ix_deletions_deleted_at", "deletions"),
        ("ix_deletions_object_key", "deletions"),
        ("ix_deletions_space_id", "deletions"),
        ("ix_audit_log_complaint_id", "audit_log"),
        ("ix_audit_log_space_id", "audit_log"),
        ("ix_complaints_status", "complaints"),
        ("ix_complaints_space_id", "complaints"),
    ):
        op.drop_index(index, table_name=table)
    op.drop_table("deletions")
    op.drop_table("audit_log")
    op.drop_table("complaints")
    with op.batch_alter_table("tracks") as batch_op:
        batch_op.drop_column("erase_requested_at")
    with op.batch_alter_table("participants") as batch_op:
        batch_op.drop_column("removed_by_complaint")
        batch_op.drop_column("removed_at")
    with op.batch_alter_table("spaces") as batch_op:
        batch_op.drop_column("vault_deleted_at")
