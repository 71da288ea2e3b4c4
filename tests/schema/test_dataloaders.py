from sqlalchemy import event

from tests.schema.helpers import make_client

PAGE = """
query($first: Int!) {
  households(region: "33.14", first: $first) {
    edges { node {
      kk desil village { name }
      head { name enrollments { program } }
      members { nik name household { kk } enrollments { program status } }
    } }
  }
}"""


async def _statements_for(client, engine, first: int) -> tuple[int, int]:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        # Only the registry's reads: authentication and the audit writer (which runs
        # in the background, in one group transaction) are counted elsewhere.
        if not statement.lstrip().upper().startswith(("PRAGMA", "SELECT 1")) and not any(
                table in statement for table in ("api_client", "audit_")):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        data = await client.data(PAGE, first=first)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    members = sum(len(e["node"]["members"]) for e in data["households"]["edges"])
    return len(statements), members


# One statement per relation level: the page, villages, heads, members, member
# households, and enrollments (heads' and members' may land in one batch or two,
# depending on which loader the event loop resolves first).
STATEMENT_BOUND = 7


async def test_sql_statements_do_not_grow_with_the_page(settings_for, loaded_engine):
    client = await make_client(settings_for, loaded_engine)
    try:
        measured = [await _statements_for(client, loaded_engine, n) for n in (10, 100, 300)]
    finally:
        await client.aclose()
    (_, members_10), (_, members_100), (_, members_300) = measured
    assert members_10 * 5 < members_100 < members_300  # the pages really are bigger
    # Without loaders a 100-household page would take several hundred statements.
    assert all(statements <= STATEMENT_BOUND for statements, _ in measured), measured
