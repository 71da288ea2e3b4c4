"""reconciliation: links, review, leases

Revision 0003, after 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lease",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_lease")),
    )
    op.create_table(
        "match_model",
        sa.Column("version", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("trained_on", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_match_model")),
    )
    op.create_table(
        "sync_request",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("connector", sa.String(length=40), nullable=True),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_request")),
    )
    with op.batch_alter_table("sync_request", schema=None) as batch_op:
        batch_op.create_index("ix_sync_request_status_id", ["status", "id"], unique=False)

    op.create_table(
        "link_decision",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "decided_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_record.id"],
            name=op.f("fk_link_decision_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_decision")),
    )
    with op.batch_alter_table("link_decision", schema=None) as batch_op:
        batch_op.create_index("ix_link_decision_record_id", ["record_id", "id"], unique=False)

    op.create_table(
        "match_key",
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=True),
        sa.Column("nik12", sa.String(length=12), nullable=True),
        sa.Column("name_norm", sa.String(length=120), nullable=False),
        sa.Column("name_key", sa.String(length=120), nullable=False),
        sa.Column("birth_date", sa.String(length=10), nullable=True),
        sa.Column("birth_year", sa.SmallInteger(), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("village_code", sa.String(length=13), nullable=True),
        sa.Column("district_code", sa.String(length=8), nullable=True),
        sa.Column("kk", sa.String(length=16), nullable=True),
        sa.Column("household_key", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_record.id"],
            name=op.f("fk_match_key_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_match_key")),
    )
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_match_key_kk"), ["kk"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_match_key_household_key"), ["household_key"], unique=False
        )
        batch_op.create_index(
            "ix_match_key_name_key_birth_year", ["name_key", "birth_year"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_match_key_nik"), ["nik"], unique=False)
        batch_op.create_index(batch_op.f("ix_match_key_nik12"), ["nik12"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_match_key_village_code"), ["village_code"], unique=False
        )

    op.create_table(
        "review_task",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "candidate_person_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "candidate_record_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("region_code", sa.String(length=13), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_record.id"],
            name=op.f("fk_review_task_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_task")),
        sa.UniqueConstraint(
            "record_id", "candidate_person_id", name=op.f("uq_review_task_record_id")
        ),
    )
    with op.batch_alter_table("review_task", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_task_region_code"), ["region_code"], unique=False
        )
        batch_op.create_index("ix_review_task_status_id", ["status", "id"], unique=False)

    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source_record_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )

    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=200), nullable=False))
        batch_op.add_column(sa.Column("evidence_hash", sa.String(length=64), nullable=False))
        batch_op.add_column(sa.Column("resolved_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_finding_fingerprint"), ["fingerprint"])
        batch_op.create_index("ix_finding_subject", ["subject_type", "subject_id"], unique=False)

    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dtks_id", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("lineage", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_household_dtks_id"), ["dtks_id"], unique=False)

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lineage", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )

    with op.batch_alter_table("source_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_method", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("link_score", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("link_locked", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("matched_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_record", schema=None) as batch_op:
        batch_op.drop_column("matched_hash")
        batch_op.drop_column("link_locked")
        batch_op.drop_column("link_score")
        batch_op.drop_column("link_method")

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("lineage")

    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_dtks_id"))
        batch_op.drop_column("lineage")
        batch_op.drop_column("dtks_id")

    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_subject")
        batch_op.drop_constraint(batch_op.f("uq_finding_fingerprint"), type_="unique")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("resolved_reason")
        batch_op.drop_column("evidence_hash")
        batch_op.drop_column("fingerprint")

    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_column("source_record_id")

    with op.batch_alter_table("review_task", schema=None) as batch_op:
        batch_op.drop_index("ix_review_task_status_id")
        batch_op.drop_index(batch_op.f("ix_review_task_region_code"))

    op.drop_table("review_task")
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_key_village_code"))
        batch_op.drop_index(batch_op.f("ix_match_key_nik12"))
        batch_op.drop_index(batch_op.f("ix_match_key_nik"))
        batch_op.drop_index("ix_match_key_name_key_birth_year")
        batch_op.drop_index(batch_op.f("ix_match_key_kk"))
        batch_op.drop_index(batch_op.f("ix_match_key_household_key"))

    op.drop_table("match_key")
    with op.batch_alter_table("link_decision", schema=None) as batch_op:
        batch_op.drop_index("ix_link_decision_record_id")

    op.drop_table("link_decision")
    with op.batch_alter_table("sync_request", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_request_status_id")

    op.drop_table("sync_request")
    op.drop_table("match_model")
    op.drop_table("lease")
