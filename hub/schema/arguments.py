"""Arguments the schema takes, checked the one way both read paths (the resolvers and
the read planner) check them: a bad one is a BadUserInput error that says why."""

from __future__ import annotations

from hub.domain.kk import InvalidKK, parse_kk
from hub.domain.nik import InvalidNik, parse_nik
from hub.domain.regions import InvalidRegionCode, normalize_region_code
from hub.errors import BadUserInput, clip
from hub.schema.pagination import DEFAULT_PAGE, decode_cursor, page_size

HouseholdKey = tuple[str, int]  # (village code, id): the households' keyset order


def valid_nik(nik: str) -> str:
    try:
        return parse_nik(nik).nik
    except InvalidNik as exc:
        raise BadUserInput(clip(str(exc)), argument="nik", problem=exc.problem.value) from None


def valid_kk(kk: str) -> str:
    try:
        return parse_kk(kk).kk
    except InvalidKK as exc:
        raise BadUserInput(str(exc), argument="kk") from None


def valid_region(code: str, argument: str) -> str:
    try:
        return normalize_region_code(code)
    except InvalidRegionCode as exc:
        raise BadUserInput(clip(str(exc)), argument=argument) from None


def household_page_args(desil: int | None, first: int | None, after: str | None,
                        max_page_size: int) -> tuple[int, HouseholdKey | None]:
    """A households page's size and the key it starts after."""
    if desil is not None and not 1 <= desil <= 10:
        raise BadUserInput(f"desil is 1 to 10, got {desil}", argument="desil")
    limit = page_size(first, DEFAULT_PAGE, max_page_size)
    if not after:
        return limit, None
    key = decode_cursor("household", after)
    if (len(key) != 2 or not isinstance(key[0], str) or type(key[1]) is not int
            or not 0 <= key[1] < 2**63):
        raise BadUserInput("after is not a cursor of this list", argument="after")
    return limit, (key[0], key[1])
