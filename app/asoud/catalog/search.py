"""Product search: one normalisation for what is indexed and what people type, stemming in
every language PostgreSQL can stem that the platform speaks, prefix matching for the word being
typed, and ranking by relevance.

- Persian and Arabic spellings of the same letter (ك/ک, ي/ى/ی, ة/ه, أ/إ/آ/ا, ؤ/و, ئ/ی, ۀ/ه)
  become one; Persian and Arabic-Indic digits become ASCII; zero-width (non-)joiners, tatweel
  and short-vowel marks go, so "کتاب‌ها", "كتابها" and "کتابها" are one word.
- The search vector holds each word as PostgreSQL's ``simple``, ``english``, ``turkish`` and
  ``arabic`` configurations make it (Persian has no stemmer in PostgreSQL: its words are
  matched whole or by prefix), so "thread" finds "threads" and "kitaplar" finds "kitap".
- Every word must match; the last one also as a prefix ("saff" finds "saffron").
"""

from __future__ import annotations

import re

from tortoise.contrib.postgres.search import SearchQuery, SearchQueryCombinable

CONFIGS = ("simple", "english", "turkish", "arabic")
MAX_WORDS = 8

_SAME_LETTER = {
    "ك": "ک",
    "ي": "ی",
    "ى": "ی",
    "ئ": "ی",
    "ة": "ه",
    "ۀ": "ه",
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ؤ": "و",
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian digits
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
}
# zero-width non-joiner and joiner, tatweel, Arabic short vowels and marks
_DROPPED = (
    "\u200c\u200d\u0640" + "".join(chr(c) for c in range(0x064B, 0x0653)) + "\u0654\u0655\u0670"
)
_TABLE = str.maketrans({**_SAME_LETTER, **dict.fromkeys(_DROPPED)})
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """Lower case with one spelling per letter (PostgreSQL's lower() and translate() do the
    same in the migration that normalised existing rows)."""
    return text.lower().translate(_TABLE)


def sql_translate_arguments() -> tuple[str, str]:
    """``translate(lower(x), from, to)`` in SQL equals :func:`normalise` (characters of
    ``from`` beyond ``to``'s length are deleted)."""
    return "".join(_SAME_LETTER) + _DROPPED, "".join(_SAME_LETTER.values())


def words(typed: str) -> list[str]:
    """The normalised words of what was typed (at most MAX_WORDS)."""
    return _WORD.findall(normalise(typed))[:MAX_WORDS]


def text_query(typed: str) -> SearchQueryCombinable | None:
    """Every word, in any configuration; the last also as a prefix. None: nothing to search."""
    found = words(typed)
    combined: SearchQueryCombinable | None = None
    for index, word in enumerate(found):
        last = index == len(found) - 1
        either: SearchQueryCombinable | None = None
        for config in CONFIGS:
            # a word is letters, digits and "_" only, so it cannot carry tsquery operators
            one = (
                SearchQuery(f"{word}:*", config=config, search_type="raw")
                if last
                else SearchQuery(word, config=config)
            )
            either = one if either is None else either | one
        assert either is not None
        combined = either if combined is None else combined & either
    return combined
