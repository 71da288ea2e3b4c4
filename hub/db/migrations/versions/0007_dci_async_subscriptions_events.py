"""dci async transactions, callbacks, subscriptions, registry events

Revision 0007, after 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dci_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sender_id", sa.String(length=120), nullable=False),
        sa.Column("message_id", sa.String(length=99), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("header", sa.JSON(), nullable=False),
        sa.Column("message", sa.JSON(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_inbox")),
        sa.UniqueConstraint("sender_id", "message_id", name=op.f("uq_dci_inbox_sender_id")),
    )
    with op.batch_alter_table("dci_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dci_inbox_action"), ["action"], unique=False)

    op.create_table(
        "dci_callback",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("sender_id", sa.String(length=120), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("header", sa.JSON(), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_callback")),
    )
    with op.batch_alter_table("dci_callback", schema=None) as batch_op:
        batch_op.create_index("ix_dci_callback_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "dci_subscription",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("sender_id", sa.String(length=120), nullable=False),
        sa.Column(
            "client_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("transaction_id", sa.String(length=99), nullable=False),
        sa.Column("reference_id", sa.String(length=99), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("filter_type", sa.String(length=16), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("notify_record_type", sa.String(length=16), nullable=False),
        sa.Column("frequency", sa.String(length=120), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("callback_url", sa.String(length=500), nullable=False),
        sa.Column("locale", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("cursor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_dci_subscription")),
    )
    with op.batch_alter_table("dci_subscription", schema=None) as batch_op:
        batch_op.create_index("ix_dci_subscription_due", ["status", "next_due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dci_subscription_sender_id"), ["sender_id"], unique=False
        )

    op.create_table(
        "dci_transaction",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sender_id", sa.String(length=120), nullable=False),
        sa.Column(
            "client_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("transaction_id", sa.String(length=99), nullable=False),
        sa.Column("correlation_id", sa.String(length=99), nullable=False),
        sa.Column("reference_ids", sa.JSON(), nullable=False),
        sa.Column("callback_url", sa.String(length=500), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_transaction")),
        sa.UniqueConstraint(
            "sender_id", "correlation_id", name=op.f("uq_dci_transaction_sender_id")
        ),
    )
    with op.batch_alter_table("dci_transaction", schema=None) as batch_op:
        batch_op.create_index("ix_dci_transaction_due", ["status", "claimed_until"], unique=False)
        batch_op.create_index(
            "ix_dci_transaction_sender_txn", ["sender_id", "transaction_id"], unique=False
        )

    op.create_table(
        "registry_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column(
            "household_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("region_code", sa.String(length=13), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_event")),
    )


def downgrade() -> None:
    with op.batch_alter_table("dci_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dci_inbox_action"))
    op.drop_table("dci_inbox")
    op.drop_table("registry_event")
    with op.batch_alter_table("dci_transaction", schema=None) as batch_op:
        batch_op.drop_index("ix_dci_transaction_sender_txn")
        batch_op.drop_index("ix_dci_transaction_due")

    op.drop_table("dci_transaction")
    with op.batch_alter_table("dci_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dci_subscription_sender_id"))
        batch_op.drop_index("ix_dci_subscription_due")

    op.drop_table("dci_subscription")
    with op.batch_alter_table("dci_callback", schema=None) as batch_op:
        batch_op.drop_index("ix_dci_callback_due")

    op.drop_table("dci_callback")
