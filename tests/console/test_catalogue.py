"""Every label the console shows goes through the catalogue, and Bahasa Indonesia has
each of them: a label added without its translation fails here, not in front of an
officer."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import hub.console
from hub.console.i18n import translations

CONSOLE = Path(hub.console.__file__).parent


def _messages() -> set[str]:
    found = extract_from_dir(
        str(CONSOLE),
        method_map=[("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")],
        # Not silent: a template the extractor cannot parse fails here instead of
        # quietly giving no messages.
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n,jinja2.ext.do",
                                           "newstyle_gettext": "true", "silent": "false"}})
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def test_every_label_has_its_indonesian_words() -> None:
    messages = _messages()
    assert len(messages) > 100
    with (CONSOLE / "locale/id/LC_MESSAGES/messages.po").open("rb") as source:
        catalogue = read_po(source, locale="id")
    missing = sorted(m for m in messages if m not in catalogue or not catalogue[m].string)
    assert not missing, f"add these to the Indonesian catalogue: {missing}"
    stale = sorted(str(m.id) for m in catalogue if m.id and m.id not in messages)
    assert not stale, f"no longer used, remove from the catalogue: {stale}"
    indonesian = translations("id")
    for message in messages:
        placeholders = {part.split(")")[0] for part in message.split("%(")[1:]}
        words = indonesian.gettext(message)
        assert all(f"%({name})s" in words for name in placeholders), message


def test_no_label_is_written_into_a_template_without_the_catalogue() -> None:
    """A crude but useful net: text between tags that is not a template expression,
    a code or a symbol is a label someone forgot to translate."""
    import re

    allowed = {"NIK", "KK", "English", "Bahasa Indonesia", "PDF", "XLSX", "CSV"}
    for template in (CONSOLE / "templates").glob("*.html"):
        text = template.read_text()
        text = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", " ", text, flags=re.S)
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
        for chunk in re.findall(r">([^<>]+)<", text):
            words = chunk.strip(" \n·→–/,()“”:")
            if re.search(r"[A-Za-z]{3,}", words) and words not in allowed:
                raise AssertionError(f"{template.name}: untranslated text {words!r}")
