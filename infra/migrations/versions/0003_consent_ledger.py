"""consent ledger (append-only), recording notice and host choices, consent snapshots, search

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:30:00

The participants' consent columns move into the ledger as entries with source "api"; the ledger
is made append-only by triggers that refuse UPDATE and DELETE.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PURPOSES = ("record", "publish", "transcribe")


def upgrade() -> None:
    op.create_table(
        "consent_entries",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("space_id", sa.String(length=32), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"]),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"]),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_consent_entries_space_id", "consent_entries", ["space_id"])
    op.create_index("ix_consent_entries_participant_id", "consent_entries", ["participant_id"])

    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, space_id, created_at, consent_record, consent_publish, consent_transcribe "
            "FROM participants"
        )
    ).fetchall()
    for pid, space_id, created_at, record, publish, transcribe in rows:
        answers = {
            "record": record,
            "publish": publish,
            "transcribe": publish if transcribe is None else transcribe,
        }
        answers["clip"] = answers["publish"]
        for purpose, granted in answers.items():
            bind.execute(
                sa.text(
                    "INSERT INTO consent_entries (space_id, participant_id, purpose, granted, "
                    "source, actor, recorded_at) VALUES (:s, :p, :u, :g, 'api', 'migration', :t)"
                ),
                {"s": space_id, "p": pid, "u": purpose, "g": bool(granted), "t": created_at},
            )

    with op.batch_alter_table("participants") as batch_op:
        batch_op.drop_column("consent_record")
        batch_op.drop_column("consent_publish")
        batch_op.drop_column("consent_transcribe")
        batch_op.add_column(sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("spaces") as batch_op:
        batch_op.add_column(sa.Column("notice", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("missing_policy", sa.String(length=10), nullable=False, server_default="hold")
        )
        batch_op.add_column(
            sa.Column("duck_excluded", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.add_column(
            sa.Column("consent_snapshot", sa.JSON(), nullable=False, server_default="{}")
        )
    op.create_table(
        "transcript_segments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("episode_id", sa.String(length=32), nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("speaker", sa.String(length=200), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["episode_id"], ["episodes.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_transcript_segments_episode_id", "transcript_segments", ["episode_id"])

    if bind.dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION consent_entries_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'consent_entries is append-only: % refused', TG_OP;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER consent_entries_append_only BEFORE UPDATE OR DELETE ON consent_entries "
            "FOR EACH ROW EXECUTE FUNCTION consent_entries_append_only()"
        )
    elif bind.dialect.name == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER consent_entries_no_{operation.lower()} BEFORE {operation} ON "
                "consent_entries BEGIN SELECT RAISE(ABORT, 'consent_entries is append-only'); END"
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER consent_entries_append_only ON consent_entries")
        op.execute("DROP FUNCTION consent_entries_append_only()")
    op.drop_index("ix_transcript_segments_episode_id", table_name="transcript_segments")
    op.drop_table("transcript_segments")
    with op.batch_alter_table("episodes") as batch_op:
        batch_op.drop_column("consent_snapshot")
    with op.batch_alter_table("spaces") as batch_op:
        batch_op.drop_column("duck_excluded")
        batch_op.drop_column("missing_policy")
        batch_op.drop_column("notice")
    with op.batch_alter_table("participants") as batch_op:
        batch_op.drop_column("joined_at")
        batch_op.add_column(sa.Column("consent_transcribe", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("consent_publish", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("consent_record", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.drop_table("consent_entries")
