"""The hub's real app plus a bare Starlette route doing the same indexed look-up.

Both run in one process on one engine, so their ratio is the cost of the GraphQL layer
alone, whatever the machine is doing meanwhile.
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.app import create_app
from hub.collector import settle_for_serving
from hub.config import HubSettings
from hub.db.models import Person

PERSON = select(Person.name, Person.sex, Person.birth_date)


def build(url: str) -> object:
    settings = HubSettings(database={"url": url})
    app = create_app(settings)
    engine = app.state.engine

    async def bare_person(request: Request) -> Response:
        nik = request.query_params["nik"]
        async with engine.connect() as connection:
            row = (
                await connection.execute(PERSON.where(Person.nik == nik).limit(1))
            ).first()
        if row is None:
            return JSONResponse({"person": None})
        return JSONResponse(
            {"person": {"name": row.name, "sex": row.sex, "birthDate": row.birth_date.isoformat()}}
        )

    app.router.routes.append(Route("/bare/person", bare_person))
    settle_for_serving(settings.server)  # as `slrt-hub serve` does
    return app


def factory() -> object:
    """For several workers: each process builds its own app (uvicorn imports this)."""
    return build(os.environ["BENCH_DATABASE_URL"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers > 1:
        os.environ["BENCH_DATABASE_URL"] = args.url
        uvicorn.run("bench.bench_server:factory", factory=True, workers=args.workers,
                    host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
        return
    uvicorn.run(build(args.url), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
