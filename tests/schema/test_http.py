"""GraphQL over HTTP behaviour that clients depend on, beyond the audit suite."""

import asyncio

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from hub.app import create_app
from hub.config import HubSettings
from hub.db.migrate import upgrade
from tests.schema.helpers import GRAPHQL_RESPONSE, GraphQLClient, make_client

TYPENAME = {"query": "{ __typename }"}


async def test_browser_gets_graphiql(client):
    response = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_get_query_with_variables(client):
    response = await client.http.get(
        "/graphql",
        params={"query": "query($c: String!) { region(code: $c) { name } }",
                "variables": '{"c": "33.14"}'},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json()["data"] == {"region": {"name": "Kab. Sragen"}}


@pytest.mark.parametrize(
    ("accept", "status", "media"),
    [
        (GRAPHQL_RESPONSE, 400, GRAPHQL_RESPONSE),
        ("application/json", 200, "application/json"),
        (None, 200, "application/json"),
    ],
)
async def test_validation_errors_follow_the_accepted_media_type(client, accept, status, media):
    headers = {"accept": accept} if accept else {}
    response = await client.http.post(
        "/graphql", json={"query": "{ person { nope } }"}, headers=headers
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith(media)
    body = response.json()
    assert "data" not in body
    assert any("nik" in e["message"] for e in body["errors"])


async def test_variables_that_do_not_coerce_are_a_request_error(client):
    response = await client.post("query($f: Int) { households(region: \"33\", first: $f)"
                                 " { totalCount } }", {"f": "ten"})
    assert response.status_code == 400
    assert "data" not in response.json()


async def test_field_error_keeps_data_and_200(client):
    response = await client.post('{ a: person(nik: "12") { name } b: region(code: "33") { name } }')
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"a": None, "b": {"name": "Jawa Tengah"}}
    assert body["errors"][0]["path"] == ["a"]


@pytest.mark.parametrize(
    ("headers", "content", "status", "fragment"),
    [
        ({"content-type": "text/plain"}, b'{"query":"{ __typename }"}', 415, "Content-Type"),
        ({}, b'{"query":"{ __typename }"}', 415, "Content-Type"),
        ({"content-type": "application/json"}, b"{not json", 400, "not valid JSON"),
        ({"content-type": "application/json"}, b"[1]", 400, "JSON object"),
        ({"content-type": "application/json"}, b'{"query": 1}', 400, "query must be a string"),
        ({"content-type": "application/json"}, b'{"qeury": "{ a }"}', 400, "missing"),
        ({"content-type": "application/json"}, b'{"query":"{ a }","variables":[1]}', 400,
         "variables"),
        ({"content-type": "application/json; charset=latin-1"}, b'{"query":"{ a }"}', 415,
         "charset"),
        ({"content-type": "application/json"}, b"\xff\xfe", 400, "UTF-8"),
    ],
)
async def test_malformed_requests_are_4xx_with_a_message(client, headers, content, status,
                                                         fragment):
    response = await client.http.post(
        "/graphql", content=content, headers={"accept": GRAPHQL_RESPONSE, **headers}
    )
    assert response.status_code == status
    assert fragment in response.json()["errors"][0]["message"]


async def test_unacceptable_accept_is_406(client):
    response = await client.http.post("/graphql", json=TYPENAME, headers={"accept": "image/png"})
    assert response.status_code == 406


async def test_unknown_operation_name_is_a_request_error(client):
    response = await client.http.post(
        "/graphql", json={"query": "query A { __typename } query B { __typename }",
                          "operationName": "C"},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    assert "no operation named 'C'" in response.json()["errors"][0]["message"]


async def test_healthz_readyz_and_metrics(client):
    root = await client.http.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/graphql"
    health = await client.http.get("/healthz")
    assert health.status_code == 200
    ready = await client.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["database"] == "ok"
    assert body["migration"] == body["migration_head"]
    await client.http.post("/graphql", json=TYPENAME)
    metrics = await client.http.get("/metrics")
    assert 'hub_http_requests_total{path="/graphql",status="200"}' in metrics.text


async def test_database_faults_are_masked_and_readyz_says_unavailable(tmp_path):
    # A database that has lost its person table: the query fails inside the resolver.
    url = f"sqlite+aiosqlite:///{tmp_path / 'broken.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_async_engine(url)
    client = await make_client(HubSettings(database={"url": url}), engine)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await conn.exec_driver_sql("DROP TABLE person")
    try:
        response = await client.post('{ person(nik: "3314015208850003") { name } }')
        body = response.json()
        assert body["errors"][0]["message"] == "Internal server error"
        assert body["errors"][0]["path"] == ["person"]
        for leak in ("no such table", "sql", "traceback", "select"):
            assert leak not in response.text.lower()
    finally:
        await client.aclose()
        await engine.dispose()
    down = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    client = GraphQLClient(create_app(HubSettings(), engine=down), "slrt_0123456789ab_key")
    try:
        assert (await client.http.get("/healthz")).status_code == 200  # alive, though
        assert (await client.http.get("/readyz")).status_code == 503  # not ready
        # Keys cannot be checked either: a clear 503, not a stack trace.
        refused = await client.post("{ __typename }")
        assert refused.status_code == 503
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        assert "retry-after" in refused.headers
    finally:
        await client.aclose()
        await down.dispose()


@pytest.mark.parametrize("query", [
    '{ person(nik: "3314015208850003") { name household { kk } } regencies { code } }',
    # the read planner's path: one statement on the pool's raw driver connection
    '{ person(nik: "3314015208850003") { name household { kk } } }',
])
async def test_a_database_outage_mid_request_is_a_503_without_partial_data(
        databases, postgresql_server, query: str) -> None:
    """Authenticated (the key is cached), then the database goes away: the request is a
    503 with Retry-After and no data, never a 200 with fields nulled by the outage."""
    import asyncpg

    url = databases.url("postgresql")
    name = url.rsplit("/", 1)[1]
    await asyncio.to_thread(upgrade, url)
    engine = create_async_engine(url)
    client = await make_client(HubSettings(database={"url": url}), engine)
    admin = await asyncpg.connect(host=postgresql_server.host, port=postgresql_server.port,
                                  user=postgresql_server.user, database="postgres")
    try:
        assert (await client.post(query)).status_code == 200
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1", name)
        for _ in range(3):  # the dead pooled connection, then refused new ones
            response = await client.post(query)
            assert response.status_code == 503, response.text
            body = response.json()
            assert "data" not in body
            assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
            assert response.headers["retry-after"] == "5"
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert (await client.post(query)).status_code == 200  # back without a restart
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        await client.aclose()
        await engine.dispose()


async def test_a_replica_on_an_older_schema_is_not_ready(tmp_path) -> None:
    """Started before `db upgrade` (or after a rollback): alive, not ready."""
    from hub.db.migrate import downgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(downgrade, url, "0013")
    engine = create_async_engine(url)
    client = GraphQLClient(create_app(HubSettings(database={"url": url}), engine=engine))
    try:
        ready = await client.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["migration"] == "0013"
        assert ready.json()["status"] == "not ready"
        assert (await client.http.get("/healthz")).status_code == 200
    finally:
        await client.aclose()
        await engine.dispose()


async def test_a_request_carries_its_id_into_the_answer_and_every_log_line(
        client, caplog) -> None:
    """JSON logs (`[log] format = "json"`): each line of a request names its id, the
    client and the operation, so an operator can follow one request through the logs."""
    import json
    import logging

    from hub.logs import JsonFormatter

    given = await client.http.post("/graphql", json={"query": "query Ping { __typename }"},
                                   headers={"x-request-id": "from-the-proxy-1"})
    assert given.headers["x-request-id"] == "from-the-proxy-1"
    made = await client.http.get("/healthz")
    assert len(made.headers["x-request-id"]) == 16
    with caplog.at_level(logging.INFO, logger="hub.graphql"):
        await client.http.post("/graphql", json={"query": "query Ping { __typename }"},
                               headers={"x-request-id": "abc-42"})
    line = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert line["request_id"] == "abc-42"
    assert line["client"] == client.name
    assert line["operation"] == "query Ping"
    assert line["message"].startswith("answered in")
    assert line["level"] == "info"


def test_graphiql_without_its_files_says_how_to_install_them(tmp_path):
    """A server whose `web/node_modules` is missing never falls back to a CDN: the page
    says what to run and loads no script."""
    from hub.schema import graphiql

    response = graphiql.page(tmp_path)
    assert response.status_code == 503
    assert b"make assets" in response.body
    assert b"<script" not in response.body
