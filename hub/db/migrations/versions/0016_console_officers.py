"""console officers and their sessions

Revision 0016, after 0015

The desk console signs in people, not systems: an officer belongs to an API client
(whose role and regions it inherits) and has a desk, an argon2id password hash and a
lock-out counter. Sessions are kept on the server so signing out or disabling an
officer ends them at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "officer",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("full_name", sa.String(length=120), nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("desk", sa.String(length=10), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"),
                  nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["api_client.id"],
                                name=op.f("fk_officer_client_id_api_client")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officer")),
        sa.UniqueConstraint("username", name=op.f("uq_officer_username")),
    )
    op.create_index(op.f("ix_officer_client_id"), "officer", ["client_id"])
    op.create_table(
        "officer_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("officer_id", ID, nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["officer_id"], ["officer.id"],
                                name=op.f("fk_officer_session_officer_id_officer")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_officer_session")),
    )
    op.create_index(op.f("ix_officer_session_officer_id"), "officer_session",
                    ["officer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_officer_session_officer_id"), table_name="officer_session")
    op.drop_table("officer_session")
    op.drop_index(op.f("ix_officer_client_id"), table_name="officer")
    op.drop_table("officer")
