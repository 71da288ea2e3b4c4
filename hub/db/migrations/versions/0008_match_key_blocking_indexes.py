"""match keys: an index per blocking key of incremental candidate look-ups

Revision 0008, after 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_key_village_code"))
        batch_op.create_index(
            "ix_match_key_village_birth_date", ["village_code", "birth_date"], unique=False
        )
        batch_op.create_index(
            "ix_match_key_name_key_village", ["name_key", "village_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.drop_index("ix_match_key_name_key_village")
        batch_op.drop_index("ix_match_key_village_birth_date")
        batch_op.create_index(
            batch_op.f("ix_match_key_village_code"), ["village_code"], unique=False
        )
