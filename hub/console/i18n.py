"""The console's languages: Bahasa Indonesia first, English on request.

Every label is an English message id translated through a gettext catalogue
(`hub/console/locale/<lang>/LC_MESSAGES/messages.po`, edited with Babel's tools). The
catalogue is read from its `.po` source when the process starts, so there is no
compiled file to forget; a message without a translation shows in English rather than
not at all, and a test fails on it.
"""

from __future__ import annotations

import io
from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("id", "en")
CATALOGUES = Path(__file__).parent / "locale"


@cache
def translations(locale: str) -> NullTranslations:
    """The catalogue for a language; English is the message ids themselves."""
    if locale == "en" or locale not in LOCALES:
        return NullTranslations()
    path = CATALOGUES / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        catalogue = read_po(source, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled)


def choose(asked: str | None, default: str) -> str:
    """The officer's choice (a cookie), else the hub's default."""
    return asked if asked in LOCALES else default
