"""Every code the console shows (case kinds, statuses, relations, finding kinds ...)
with its words. One table, looked up in Python: a template that built it per call spent
most of a 400-row queue's time on it."""

from __future__ import annotations

from collections.abc import Callable


def N_(message: str) -> str:
    """Marks a message for the catalogue (Babel extracts `N_`); translated when shown."""
    return message


LABELS: dict[str, str] = {
    "COMPLAINT": N_("Complaint"),
    "QUESTION": N_("Question"),
    "SUGGESTION": N_("Suggestion"),
    "SOCIAL_ASSISTANCE": N_("Social assistance"),
    "HEALTH": N_("Health"),
    "EDUCATION": N_("Education"),
    "CIVIL_DOCUMENTS": N_("Civil documents"),
    "ECONOMIC": N_("Economic"),
    "OTHER": N_("Other"),
    "WALK_IN": N_("Walk-in"),
    "PHONE": N_("Phone"),
    "APP": N_("App"),
    "PUSKESOS": N_("Puskesos"),
    "NORMAL": N_("Normal"),
    "URGENT": N_("Urgent"),
    "EMERGENCY": N_("Emergency"),
    "OPEN": N_("Open"),
    "IN_PROGRESS": N_("In progress"),
    "CLOSED": N_("Closed"),
    "RECOMMENDED": N_("Recommended"),
    "APPROVED": N_("Approved"),
    "RETURNED": N_("Returned"),
    "REFERRED": N_("Referred"),
    "ACCEPTED": N_("Accepted"),
    "REJECTED": N_("Rejected"),
    "FULFILLED": N_("Fulfilled"),
    "MONITORED": N_("Monitored"),
    "OVERDUE": N_("Overdue"),
    "ESCALATED": N_("Escalated"),
    "HEAD": N_("Head of household"),
    "SPOUSE": N_("Spouse"),
    "CHILD": N_("Child"),
    "PARENT": N_("Parent"),
    "CHILD_IN_LAW": N_("Child-in-law"),
    "GRANDCHILD": N_("Grandchild"),
    "M": N_("Male"),
    "F": N_("Female"),
    "ELIGIBLE_NOT_COVERED": N_("Eligible, not covered"),
    "DECEASED_STILL_ENROLLED": N_("Deceased, still enrolled"),
    "INVALID_NIK": N_("Invalid NIK"),
    "NIK_NOT_IN_CIVIL_REGISTRY": N_("NIK not in the civil registry"),
    "IDENTITY_MISMATCH": N_("Identity mismatch"),
    "DUPLICATE_PERSON": N_("Duplicate person"),
    "HOUSEHOLD_CONFLICT": N_("Household conflict"),
    "SUCCEEDED": N_("Succeeded"),
    "FAILED": N_("Failed"),
    "RUNNING": N_("Running"),
    "ACTIVE": N_("Active"),
    "INACTIVE": N_("Inactive"),
    "ENDED": N_("Ended"),
}


def labeller(gettext: Callable[[str], str]) -> Callable[[str | None], str]:
    """`code(value)` for a page in one language: the code's words, or the code itself
    when it has none (a new status still shows)."""
    words = {code: gettext(message) for code, message in LABELS.items()}

    def code(value: str | None) -> str:
        return words.get(value, value) if value else "–"
    return code
