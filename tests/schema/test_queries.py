import base64
from collections import Counter, defaultdict

import pytest

from hub.jsontext import read_jsonl

PERSON = """
query($nik: String!) {
  person(nik: $nik) {
    id nik name sex birthDate alive relation
    household { kk desil villageCode members { nik relation } }
    enrollments { program status source }
  }
}"""


@pytest.fixture(scope="module")
def truth(small_population):
    persons = list(read_jsonl(small_population / "persons.jsonl"))
    households = {h["id"]: h for h in read_jsonl(small_population / "households.jsonl")}
    enrollments = defaultdict(list)
    for e in read_jsonl(small_population / "enrollments.jsonl"):
        enrollments[e["person_id"]].append(e)
    return persons, households, enrollments


async def test_person_by_nik_with_household_and_enrollments(client, truth):
    persons, households, enrollments = truth
    # Someone with programmes, so the nested list is not trivially empty.
    person = next(p for p in persons if len(enrollments[p["id"]]) >= 2)
    data = await client.data(PERSON, nik=person["nik"])
    got = data["person"]
    assert got["name"] == person["name"]
    assert got["birthDate"] == person["birth_date"]
    assert got["sex"] == person["sex"]
    household = households[person["household_id"]]
    assert got["household"]["kk"] == household["kk"]
    assert got["household"]["desil"] == household["desil"]
    members = [p["nik"] for p in persons if p["household_id"] == person["household_id"]]
    assert [m["nik"] for m in got["household"]["members"]] == members
    assert sorted(e["program"] for e in got["enrollments"]) == sorted(
        e["program"] for e in enrollments[person["id"]]
    )


async def test_unknown_but_valid_nik_is_null(client):
    data = await client.data(PERSON, nik="3314010101010001")
    assert data["person"] is None


@pytest.mark.parametrize(
    ("nik", "problem", "fragment"),
    [
        ("1234", "WRONG_LENGTH", "has 4 digits"),
        ("3314013208850003", "BAD_BIRTH_DATE", "not a birth date"),
        ("9914015208850003", "UNKNOWN_PROVINCE", "not a province"),
        ("33140152O8850003", "NOT_DIGITS", "only digits"),
    ],
)
async def test_invalid_nik_is_an_error_that_says_why(client, nik, problem, fragment):
    errors = await client.errors(PERSON, nik=nik)
    assert len(errors) == 1
    assert fragment in errors[0]["message"]
    assert errors[0]["extensions"] == {
        "code": "BAD_USER_INPUT", "argument": "nik", "problem": problem,
    }
    assert errors[0]["path"] == ["person"]


async def test_household_by_kk(client, truth):
    persons, households, _ = truth
    household = next(iter(households.values()))
    data = await client.data(
        'query($kk: String!) { household(kk: $kk) { kk desil village { code name parent { code } }'
        " head { nik relation } members { nik } } }",
        kk=household["kk"],
    )
    got = data["household"]
    assert got["village"]["code"] == household["village_code"]
    assert got["village"]["parent"]["code"] == household["village_code"].rsplit(".", 1)[0]
    assert got["head"]["relation"] == "HEAD"
    assert len(got["members"]) == sum(p["household_id"] == household["id"] for p in persons)
    errors = await client.errors('{ household(kk: "12") { kk } }')
    assert "has 2 digits" in errors[0]["message"]


PAGE = """
query($region: String!, $desil: Int, $first: Int, $after: String) {
  households(region: $region, desil: $desil, first: $first, after: $after) {
    totalCount
    edges { cursor node { id kk desil villageCode } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _walk(client, **arguments):
    seen, after, pages = [], None, 0
    while True:
        data = await client.data(PAGE, after=after, **arguments)
        connection = data["households"]
        seen.extend(edge["node"] for edge in connection["edges"])
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            return seen, connection["totalCount"], pages
        after = connection["pageInfo"]["endCursor"]


async def test_paging_returns_every_household_once(client, truth):
    _, households, _ = truth
    seen, total, pages = await _walk(client, region="33.14", first=37)
    assert total == len(households)
    assert sorted(int(h["id"]) for h in seen) == sorted(households)
    assert pages == -(-len(households) // 37)


async def test_paging_by_district_and_desil(client, truth):
    _, households, _ = truth
    district = next(iter(households.values()))["village_code"][:8]
    expected = {hid for hid, h in households.items()
                if h["village_code"].startswith(district + ".") and h["desil"] == 2}
    seen, total, _ = await _walk(client, region=district, desil=2, first=5)
    assert {int(h["id"]) for h in seen} == expected
    assert total == len(expected)
    assert all(h["desil"] == 2 for h in seen)


async def test_compact_region_codes_are_accepted(client):
    dotted = await client.data(PAGE, region="33.14.01", first=3)
    compact = await client.data(PAGE, region="331401", first=3)
    assert dotted == compact


@pytest.mark.parametrize(
    ("arguments", "fragment", "argument"),
    [
        ({"region": "33.14", "first": 100000}, "at most 500", "first"),
        ({"region": "33.14", "first": -1}, "0 or more", "first"),
        ({"region": "33.14", "after": "not-a-cursor"}, "not a cursor", "after"),
        # Nested past the parser's recursion limit: refused, not a RecursionError.
        ({"region": "33.14", "after": base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000)
          .decode()}, "not a cursor", "after"),
        ({"region": "33-14"}, "not a region code", "region"),
        ({"region": "33.14", "desil": 11}, "desil is 1 to 10", "desil"),
    ],
)
async def test_bad_page_arguments_say_what_is_wrong(client, arguments, fragment, argument):
    errors = await client.errors(PAGE, **arguments)
    assert fragment in errors[0]["message"]
    assert errors[0]["extensions"]["argument"] == argument


async def test_a_cursor_from_another_list_is_refused(client):
    from hub.schema.pagination import encode_cursor

    errors = await client.errors(PAGE, region="33.14", after=encode_cursor("person", [1]))
    assert "does not belong" in errors[0]["message"]


async def test_region_statistics_match_the_truth(client, truth):
    persons, households, enrollments = truth
    data = await client.data(
        '{ region(code: "33.14") { name level children { code } statistics {'
        " households persons perDesil { desil households persons }"
        " coverage { program enrolledPersons poorPersons poorEnrolled coverageOfPoor } } } }"
    )
    region = data["region"]
    assert region["name"] == "Kab. Sragen"
    assert region["level"] == "REGENCY"
    assert len(region["children"]) == 20
    stats = region["statistics"]
    living = [p for p in persons if p["alive"]]
    assert stats["households"] == len(households)
    assert stats["persons"] == len(living)
    per_desil = Counter(h["desil"] for h in households.values())
    assert {d["desil"]: d["households"] for d in stats["perDesil"]} == per_desil
    poor = [p for p in living if households[p["household_id"]]["desil"] <= 4]
    pbi_poor = [p for p in poor
                if any(e["program"] == "PBI_JKN" for e in enrollments[p["id"]])]
    coverage = {c["program"]: c for c in stats["coverage"]}
    assert coverage["PBI_JKN"]["poorPersons"] == len(poor)
    assert coverage["PBI_JKN"]["poorEnrolled"] == len(pbi_poor)
    assert coverage["PBI_JKN"]["coverageOfPoor"] == pytest.approx(len(pbi_poor) / len(poor))


async def test_unknown_region_is_null_and_regencies_lists_the_loaded_one(client):
    data = await client.data('{ region(code: "33.99") { name } regencies { code name } }')
    assert data["region"] is None
    assert data["regencies"] == [{"code": "33.14", "name": "Kab. Sragen"}]
