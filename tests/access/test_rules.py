"""The pure rules of access control: keys, region scope, field policy, cost, rate
buckets, the audit chain."""

from __future__ import annotations

import pytest
from graphql import get_named_type, parse

from hub.access import keys
from hub.access.chain import GENESIS, canonical, link
from hub.access.cost import CostCache, CostModel, operation_cost
from hub.access.policy import ALL, POLICIES, allows
from hub.access.ratelimit import RateLimiter
from hub.access.roles import Principal, RegionScope, Role
from hub.domain.regions import person_region
from hub.schema import build_schema


def test_keys_are_random_and_only_their_digest_matches() -> None:
    one, two = keys.issue(), keys.issue()
    assert one.key != two.key
    assert one.key_id != two.key_id
    assert keys.key_id_of(one.key) == one.key_id
    assert keys.matches(one.key, one.digest)
    assert not keys.matches(two.key, one.digest)
    assert one.key not in one.digest
    for malformed in ("", "slrt", "slrt__x", "other_0123456789ab_x", "slrt_short_x"):
        assert keys.key_id_of(malformed) is None


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None),
    (None, None), ("", None),
])
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert keys.bearer_token(header) == token


def test_region_scope_is_a_subtree_not_a_string_prefix() -> None:
    scope = RegionScope(("33.14.01",))
    assert scope.allows("33.14.01")
    assert scope.allows("33.14.01.2001")
    assert not scope.allows("33.14.010")  # a prefix of characters is not a sub-region
    assert not scope.allows("33.14")
    assert not scope.allows("33.14.02.2001")
    assert not scope.allows(None)
    assert RegionScope(everywhere=True).allows(None)
    assert not RegionScope(()).allows("33")
    several = RegionScope(("33.14.01", "35.01"))
    assert several.allows("35.01.2001")
    assert several.allows("33.14.01")
    assert not several.allows("35.010")
    assert not several.allows("35")


def test_scope_within_gives_the_visible_part_of_a_region() -> None:
    scope = RegionScope(("33.14.01", "33.14.02", "35.01"))
    assert scope.within("33.14.01.2001") == ("33.14.01.2001",)
    assert scope.within("33.14") == ("33.14.01", "33.14.02")
    assert scope.within("33") == ("33.14.01", "33.14.02")
    assert scope.within("34") == ()


def test_only_national_clients_see_every_region() -> None:
    def principal(role: Role) -> Principal:
        return Principal(1, "x", role, ("33.14",), "basis", "purpose")

    assert principal(Role.NATIONAL).scope.everywhere
    assert not any(principal(r).scope.everywhere for r in Role if r is not Role.NATIONAL)


def test_every_policy_names_real_types_and_fields() -> None:
    """A typo in the policy would silently deny (or, worse, describe) nothing."""
    schema = build_schema().graphql
    for role, rules in POLICIES.items():
        for type_name, fields in rules.items():
            if type_name == "*":
                continue
            graphql_type = schema.get_type(type_name)
            assert graphql_type is not None, (role, type_name)
            if fields != ALL:
                missing = set(fields) - set(graphql_type.fields)
                assert not missing, (role, type_name, missing)


def test_partner_and_facilitator_never_reach_lineage_or_steward_mutations() -> None:
    schema = build_schema().graphql
    steward = {"triggerSync", "resolveFinding", "resolveReviewTask", "linkRecord",
               "unlinkRecord", "mergePersons", "splitPerson"}
    assert steward <= set(schema.mutation_type.fields)
    for name in schema.mutation_type.fields:
        assert allows(Role.DISTRICT, "Mutation", name)
        assert not allows(Role.PARTNER, "Mutation", name)
    assert {n for n in schema.mutation_type.fields
            if allows(Role.FACILITATOR, "Mutation", n)} == {"registerCase", "monitorReferral"}
    assert {n for n in schema.mutation_type.fields if allows(Role.AGENCY, "Mutation", n)} == {
        "resolveFinding", "acceptReferral", "rejectReferral", "fulfillReferral"}
    for role in (Role.PARTNER, Role.FACILITATOR, Role.AGENCY):
        assert not allows(role, "Person", "lineage")
        assert not allows(role, "Query", "auditTrail")
        assert not allows(role, "Query", "reviewTasks")
    assert not allows(Role.AGENCY, "Person", "household")
    # Every Query field is covered for the two roles that read everything.
    for name in schema.query_type.fields:
        assert allows(Role.NATIONAL, "Query", name)
        assert allows(Role.DISTRICT, "Query", name)


def _reachable(role: Role) -> set[str]:
    """Every type a role can reach from Query through the fields its policy allows."""
    schema = build_schema().graphql
    seen, todo = set(), ["Query"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        graphql_type = schema.get_type(name)
        for field_name, field in getattr(graphql_type, "fields", {}).items():
            if allows(role, name, field_name):
                todo.append(get_named_type(field.type).name)
    return seen


def test_personal_types_are_out_of_reach_of_partners_and_facilitators_see_no_findings(
) -> None:
    assert not _reachable(Role.PARTNER) & {"Person", "Household", "Finding", "Enrollment",
                                           "SourceRecord", "AuditAccess"}
    assert not _reachable(Role.FACILITATOR) & {"Finding", "ReviewTask", "SourceRecord",
                                               "LineageEntry", "AuditAccess", "SyncRun"}
    assert not _reachable(Role.AGENCY) & {"Household", "ReviewTask", "SourceRecord",
                                          "LineageEntry", "AuditAccess"}


COST = CostModel(default_page=50, small_list=10, max_page=500)


def _cost(query: str, variables: dict | None = None) -> int:
    schema = build_schema().graphql
    document = parse(query)
    return operation_cost(schema, document, document.definitions[0], variables, COST)


def test_cost_weighs_lists_by_their_page_size() -> None:
    scalar = _cost('{ person(nik: "3314015208850003") { name nik } }')
    nested = _cost('{ person(nik: "3314015208850003") { name household { members { name } } } }')
    assert scalar == 1
    assert nested == 1 * (1 + 1 * (1 + 10))
    page = '''query($n: Int) { households(region: "33.14", first: $n) {
        edges { node { members { enrollments { program } } } } } }'''
    # page x (connection + edge + node + 10 members x (1 + 10 enrollments))
    assert _cost(page, {"n": 10}) == 10 * (1 + 1 + 1 + 10 * (1 + 10))
    assert _cost(page, {"n": 100}) == 10 * _cost(page, {"n": 10})
    assert _cost(page, {}) == _cost(page, {"n": 50})  # the default page
    assert _cost(page, {"n": 10**6}) == _cost(page, {"n": 500})  # capped at the largest


def test_cost_follows_fragments_and_ignores_introspection() -> None:
    inline = '{ households(region: "33", first: 5) { edges { node { members { name } } } } }'
    fragment = '''{ households(region: "33", first: 5) { ...Page } }
        fragment Page on HouseholdConnection { edges { node { members { name } } } }'''
    assert _cost(inline) == _cost(fragment) > 0
    assert _cost("{ __schema { types { name fields { name } } } }") == 0


def test_cost_cache_keeps_only_costs_no_variable_changes() -> None:
    schema = build_schema().graphql
    cache = CostCache(schema, COST)
    page = parse('''query($n: Int, $region: String!) { households(region: $region,
        first: $n) { edges { node { members { name } } } } }''')
    batch = parse("query($niks: [String!]!) { eligibilityBatch(niks: $niks, "
                  "program: \"PBI_JKN\") { index } }")
    lookup = parse("query($nik: String!) { person(nik: $nik) { household { kk } } }")
    for document, variables in ((page, {"n": 10, "region": "33"}),
                                (page, {"n": 100, "region": "33"}), (page, {"region": "33"}),
                                (batch, {"niks": ["1"] * 150}), (batch, {"niks": ["1"] * 950}),
                                (lookup, {"nik": "3314015208850003"}),
                                (lookup, {"nik": "3314015208850004"})):
        operation = document.definitions[0]
        expected = operation_cost(schema, document, operation, variables, COST)
        assert cache.cost(document, operation, variables) == expected
        assert cache.cost(document, operation, variables) == expected
    assert cache.cost(page, page.definitions[0], {"n": 7, "region": "33"}) == 7 * (3 + 10)
    assert cache.cost(batch, batch.definitions[0], {"niks": ["1"] * 301}) == 4
    # The look-up's cost is kept: asked again, it is not walked.
    assert list(cache._fixed) == [id(lookup.definitions[0])]


def test_rate_limiter_allows_a_minute_of_burst_then_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert all(limiter.take(1, 3) is None for _ in range(3))
    wait = limiter.take(1, 3)
    assert wait is not None
    assert 19 < wait <= 20
    assert limiter.take(2, 3) is None  # another client has its own bucket
    now[0] += 20
    assert limiter.take(1, 3) is None
    assert limiter.take(1, 3) is not None


def test_chain_hash_depends_on_every_byte_and_the_predecessor() -> None:
    text = canonical({"id": 1, "client": "a", "subjects": [["person", 7, "3314"]]})
    assert canonical({"subjects": [["person", 7, "3314"]], "client": "a", "id": 1}) == text
    first = link(GENESIS, text)
    assert link(GENESIS, text.replace('"a"', '"b"')) != first
    assert link("1" * 64, text) != first


def test_person_region_falls_back_to_the_nik_district() -> None:
    assert person_region("33.14.01.2001", "33.14.02.2001", None) == "33.14.01.2001"
    assert person_region(None, "33.14.02.2001", "3314015208850003") == "33.14.02.2001"
    assert person_region(None, None, "3314015208850003") == "33.14.01"
    assert person_region(None, None, "3314005208850003") is None  # district 00
    assert person_region(None, None, None) is None


def test_the_docs_show_the_policy_as_it_is() -> None:
    """docs/access.md shows the policy's own rules (`python -m hub.access.policy`)."""
    from pathlib import Path

    from hub.access.policy import markdown_table

    readme = (Path(__file__).parents[2] / "docs" / "access.md").read_text(encoding="utf-8")
    shown = readme.split("<!-- policy:start -->\n", 1)[1].split("\n<!-- policy:end -->", 1)[0]
    assert shown == markdown_table(), "regenerate with: python -m hub.access.policy"
