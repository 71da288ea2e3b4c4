"""The district dashboard over a reconciled district: its figures are the registry's
and the desk's own (checked against the database), drawn as charts with the numbers
beside them, and the connectors' health."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from hub.access.officers import DeskKind
from hub.access.roles import Role
from hub.db.models import Finding, Household, ServiceCase
from tests.console.helpers import officer_for
from tests.redteam.conftest import District, district  # noqa: F401
from tests.schema.helpers import make_client
from tests.sync.conftest import (  # noqa: F401
    agencies,
    hub_engine,
    hub_settings,
    sync_population,
)


async def test_the_dashboard_shows_the_districts_own_figures(district: District) -> None:  # noqa: F811
    api = await make_client(district.settings, district.engine, Role.DISTRICT, ("33.14",),
                            app=district.app)
    page_of = await api.data(
        '{ households(region: "33.14", first: 3) { edges { node { members { nik } } } } }')
    niks = [edge["node"]["members"][0]["nik"] for edge in page_of["households"]["edges"]]
    ids = [(await api.data('mutation($n: String) { registerCase(case: {kind: COMPLAINT, '
                           'category: EDUCATION, channel: PHONE, urgency: NORMAL, '
                           'description: "PIP", nik: $n}) { id } }', n=nik)
            )["registerCase"]["id"] for nik in niks]
    async with district.engine.begin() as conn:  # one of them waits past its due time
        await conn.execute(update(ServiceCase).where(ServiceCase.id == int(ids[0])).values(
            first_response_due=datetime.now(UTC) - timedelta(hours=1)))
    await api.aclose()
    manager = await officer_for(district.app, district.engine, DeskKind.MANAGER,
                                Role.DISTRICT, ("33.14",))
    front = await officer_for(district.app, district.engine, DeskKind.FRONT, Role.DISTRICT,
                              ("33.14",))
    try:
        answer = await manager.get("/console/dashboard", days="7")
        assert answer.status_code == 200
        page = answer.text
        received = re.search(r"<dt>Kasus diterima</dt><dd>(\d+)</dd>", page)
        assert received
        assert int(received.group(1)) == len(niks)
        # The category, in words, with its one overdue case.
        assert re.search(rf'<tr class="overdue"><th scope="row">Pendidikan</th><td>{len(niks)}'
                         r"</td><td>0</td><td>1</td>", page), page

        async with district.engine.connect() as conn:
            households = (await conn.execute(select(func.count(Household.id)).where(
                Household.village_code.like("33.14.%")))).scalar_one()
            gap = Counter(dict((await conn.execute(
                select(Finding.region_code, func.count(Finding.id))
                .where(Finding.kind == "ELIGIBLE_NOT_COVERED", Finding.status == "OPEN")
                .group_by(Finding.region_code))).all()))
        assert f"{households} keluarga" in page
        assert gap, "a reconciled district has a KIS gap"
        for village, count in gap.most_common(3):
            assert re.search(rf"<th scope=\"row\">{re.escape(village)}</th><td>{count}</td>",
                             page), village
        assert page.count('<svg class="chart"') >= 3
        for connector in district.settings.connectors:
            assert f'<th scope="row">{connector}' in page

        assert (await front.get("/console/dashboard")).status_code == 403
    finally:
        await manager.aclose()
        await front.aclose()
