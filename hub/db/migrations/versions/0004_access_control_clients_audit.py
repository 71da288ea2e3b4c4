"""access control: clients, audit, trusted documents

Revision 0004, after 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


GENESIS = "0" * 64

# The audit log is append-only in the database itself, not only in the code that writes
# it: an UPDATE or DELETE fails whoever sends it. (An administrator can still drop the
# trigger; the hash chain is what detects that kind of tampering.)
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_{table}_{action}_refused BEFORE {action.upper()} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
    for table in ("audit_log", "audit_subject")
    for action in ("update", "delete")
]
POSTGRES_FUNCTION = """CREATE FUNCTION audit_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$ LANGUAGE plpgsql"""
POSTGRES_TRIGGERS = [
    f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"""
    for table in ("audit_log", "audit_subject")
]


def upgrade() -> None:
    op.create_table(
        "api_client",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("agency", sa.String(length=40), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_client")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_client_key_id")),
        sa.UniqueConstraint("name", name=op.f("uq_api_client_name")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("operation", sa.String(length=200), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "trusted_document",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_trusted_document")),
    )
    op.create_table(
        "audit_subject",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("audit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("identifier", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audit_log.id"], name=op.f("fk_audit_subject_audit_id_audit_log")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_subject")),
    )
    with op.batch_alter_table("audit_subject", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_subject_audit_id"), ["audit_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_subject_identifier"), ["identifier"], unique=False
        )
        batch_op.create_index("ix_audit_subject_kind_subject", ["kind", "subject_id"], unique=False)

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region_code", sa.String(length=13), nullable=True))
        batch_op.create_index(batch_op.f("ix_person_region_code"), ["region_code"], unique=False)

    op.execute(
        sa.text(
            f"INSERT INTO audit_head (id, last_id, hash, entries) VALUES (1, 0, '{GENESIS}', 0)"
        )
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("audit_log", "audit_subject"):
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION audit_append_only()")
    else:
        for table in ("audit_log", "audit_subject"):
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER audit_{table}_{action}_refused")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_region_code"))
        batch_op.drop_column("region_code")

    with op.batch_alter_table("audit_subject", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_subject_kind_subject")
        batch_op.drop_index(batch_op.f("ix_audit_subject_identifier"))
        batch_op.drop_index(batch_op.f("ix_audit_subject_audit_id"))

    op.drop_table("audit_subject")
    op.drop_table("trusted_document")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("audit_head")
    op.drop_table("api_client")
