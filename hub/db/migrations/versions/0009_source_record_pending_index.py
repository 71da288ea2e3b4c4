"""source records: a partial index of the records reconciliation has still to match

Revision 0009, after 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "matched_hash IS NULL OR matched_hash <> payload_hash"


def upgrade() -> None:
    op.create_index("ix_source_record_pending", "source_record", ["id"], unique=False,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))


def downgrade() -> None:
    op.drop_index("ix_source_record_pending", table_name="source_record")
