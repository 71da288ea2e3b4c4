"""match keys: the mother's name a record gives, for the linkage model to compare

Revision 0013, after 0012

The mother's name is normalised in Python, so existing keys cannot be filled here: the
records that give one are marked to be matched again instead (the next run writes their
keys afresh). Pinned records keep their keys, and compare as unknown.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("match_key", sa.Column("mother_name", sa.String(length=120), nullable=True))
    given = ("normalized ->> 'mother_name'" if op.get_bind().dialect.name == "postgresql"
             else "json_extract(normalized, '$.mother_name')")
    op.execute("UPDATE source_record SET matched_hash = NULL WHERE link_locked = false AND "
               f"id IN (SELECT record_id FROM match_key) AND {given} IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.drop_column("mother_name")
