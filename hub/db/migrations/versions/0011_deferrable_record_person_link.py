"""source records: their link to a person may be checked at commit

Revision 0011, after 0010

A reconciliation run links records to persons it creates later in the same transaction
(the golden phase writes each new person once, whole): on PostgreSQL the run defers the
check of this foreign key to its commit. SQLite gets the same declaration (its table is
rebuilt), though a run there still creates its persons before linking to them: it has no
sequence to draw ids from.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "fk_source_record_person_id_person"


def _declare(**options: object) -> None:
    if op.get_bind().dialect.name == "postgresql":
        deferrable = "DEFERRABLE INITIALLY IMMEDIATE" if options else "NOT DEFERRABLE"
        op.execute(f"ALTER TABLE source_record ALTER CONSTRAINT {CONSTRAINT} {deferrable}")
        return
    with op.batch_alter_table("source_record", recreate="always") as batch_op:
        batch_op.drop_constraint(CONSTRAINT, type_="foreignkey")
        batch_op.create_foreign_key(CONSTRAINT, "person", ["person_id"], ["id"], **options)


def upgrade() -> None:
    _declare(deferrable=True, initially="IMMEDIATE")


def downgrade() -> None:
    _declare()
