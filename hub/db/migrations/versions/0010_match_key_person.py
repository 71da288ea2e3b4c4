"""match keys: the person each record is linked to, beside its blocking keys

Revision 0010, after 0009

Reconciliation looks candidates, NIK holders and DTKS household members up by their
match keys and needs each one's person: from `source_record` that was a visit to a wide
row (payloads and all) per key, most of an incremental run at a million persons.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("match_key", sa.Column(
        "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
    op.execute("UPDATE match_key SET person_id = (SELECT s.person_id FROM source_record s "
               "WHERE s.id = match_key.record_id)")


def downgrade() -> None:
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.drop_column("person_id")
