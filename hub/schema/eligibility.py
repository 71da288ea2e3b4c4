"""`eligibility` and `eligibilityBatch`: the check Baznas and CSR partners run before
giving aid, so that help goes to those who need it and is not given twice."""

from __future__ import annotations

from datetime import date
from enum import Enum
from functools import lru_cache

import strawberry

from hub.access.roles import Role
from hub.domain.eligibility import Decision, Outcome, Reason, desil_band, for_partner
from hub.errors import BadUserInput
from hub.schema.arguments import valid_nik
from hub.schema.types import HubInfo
from hub.services.eligibility import Checked, Lookup, check, rule_of

EligibilityDecision = strawberry.enum(Decision, name="EligibilityDecision")
LookupStatus = strawberry.enum(Enum("LookupStatus", {s.value: s.value for s in Lookup}),
                               description="FOUND; NOT_FOUND (not in the registry, or "
                               "outside this client's regions); INVALID_NIK.")


@strawberry.type(description="Why: a code a system can act on, text a desk can read.")
class EligibilityReason:
    code: str
    text: str


@strawberry.type(description="A programme whose eligibility can be checked.")
class EligibilityProgram:
    name: str
    description: str


@strawberry.type(description="One NIK's answer: a decision and its reasons, the desil in "
                 "a band of two, and the programmes the person already receives.")
class EligibilityResult:
    index: int = strawberry.field(description="Position of the NIK in the request.")
    nik: str | None = strawberry.field(description="The NIK, in full (not for partners).")
    masked_nik: str = strawberry.field(description="3314********0001")
    status: LookupStatus  # type: ignore[valid-type]
    problem: str | None = strawberry.field(description="Why an INVALID_NIK is invalid.")
    program: str
    decision: EligibilityDecision | None  # type: ignore[valid-type]
    reasons: list[EligibilityReason]
    desil_band: str | None = strawberry.field(description="1-2, 3-4, ... or null.")
    overlaps: list[str] = strawberry.field(
        description="Programmes the person is actively enrolled in (of those the rule "
        "reports): help not to give twice.")
    region_code: strawberry.Private[str | None] = None
    person_id: strawberry.Private[int | None] = None

    @classmethod
    def of(cls, program: str, item: Checked, *, partner: bool = False) -> EligibilityResult:
        """The answer; a partner's reasons speak in desil bands and name no fact of
        health, death or children beyond their codes."""
        outcome = item.outcome
        return cls(
            # Only a person the client may see is named; otherwise the index and the
            # masked NIK say which request item this is.
            index=item.index, nik=item.nik if item.lookup is Lookup.FOUND else None,
            masked_nik=item.masked_nik,
            status=LookupStatus[item.lookup.value], problem=item.problem, program=program,
            decision=outcome.decision if outcome else None,
            reasons=_reasons(outcome, item.desil if partner else None, partner)
            if outcome else [],
            desil_band=desil_band(item.desil),
            overlaps=_overlaps(outcome.overlaps) if outcome else [],
            region_code=item.region_code, person_id=item.person_id)


@lru_cache(maxsize=4096)
def _answered(reason: Reason, desil: int | None, partner: bool) -> EligibilityReason:
    """A reason as answered, made once per reason, desil and audience: a batch of
    10,000 answers carries some 13,000 reasons but only a few dozen distinct ones, and
    making each anew was a third of a batch's answer-building (50 of 130 ms). The
    objects are shared, never changed."""
    if partner:
        reason = for_partner(reason, desil)
    return EligibilityReason(code=reason.code, text=reason.text)


@lru_cache(maxsize=4096)
def _reasons(outcome: Outcome, desil: int | None, partner: bool) -> list[EligibilityReason]:
    """An outcome's reasons as answered. A batch's outcomes are shared (one per
    distinct set of facts, `Decider`), and so is this list: answers never change it,
    and completing a batch completes each shared list once."""
    return [_answered(reason, desil, partner) for reason in outcome.reasons]


@lru_cache(maxsize=256)
def _overlaps(overlaps: tuple[str, ...]) -> list[str]:
    return list(overlaps)


def _partner(info: HubInfo) -> bool:
    return info.context.principal.role is Role.PARTNER


def _program(info: HubInfo, program: str):
    rules = info.context.settings.eligibility.programs
    if program not in rules:
        raise BadUserInput(f"no programme {program!r}; known: {', '.join(sorted(rules))}",
                           argument="program")
    return rule_of(program, rules[program])


@strawberry.type
class EligibilityQuery:
    @strawberry.field(description="The programmes eligibility can be checked for.")
    def eligibility_programs(self, info: HubInfo) -> list[EligibilityProgram]:
        return [EligibilityProgram(name=name, description=rule.description)
                for name, rule in sorted(info.context.settings.eligibility.programs.items())]

    @strawberry.field(description="Is the person with this NIK eligible for the programme, "
                      "and why. An invalid NIK is an error that says why.")
    async def eligibility(self, info: HubInfo, nik: str, program: str) -> EligibilityResult:
        rule = _program(info, program)
        (item,) = await check(info.context.engine, rule, [valid_nik(nik)],
                              info.context.principal.scope, date.today())
        return EligibilityResult.of(program, item, partner=_partner(info))

    @strawberry.field(description="Up to [eligibility] max_batch (10,000) NIKs in one call, "
                      "answered in order; an unknown or invalid NIK is reported on its own "
                      "item and never fails the batch.")
    async def eligibility_batch(self, info: HubInfo, niks: list[str], program: str
                                ) -> list[EligibilityResult]:
        rule = _program(info, program)
        limit = info.context.settings.eligibility.max_batch
        if len(niks) > limit:
            raise BadUserInput(f"at most {limit} NIKs per batch, got {len(niks)}",
                               argument="niks")
        items = await check(info.context.engine, rule, niks, info.context.principal.scope,
                            date.today(), parts=info.context.settings.eligibility.statement_parts)
        partner = _partner(info)
        return [EligibilityResult.of(program, item, partner=partner) for item in items]
