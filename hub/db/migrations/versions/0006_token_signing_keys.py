"""token signing keys, DCI message ids

Revision 0006, after 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_key")),
    )


    op.create_table(
        "dci_message",
        sa.Column("sender_id", sa.String(length=120), nullable=False),
        sa.Column("message_id", sa.String(length=99), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender_id", "message_id", name=op.f("pk_dci_message")),
    )


def downgrade() -> None:
    op.drop_table("dci_message")
    op.drop_table("signing_key")
