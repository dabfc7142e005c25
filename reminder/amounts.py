"""Amounts as tablets: what a dose is in the hand, and whether the tablets can give it.

Pure functions over a medication's ``strength`` text ("10 mg", "10 mg tablet", "5 mg/5 mL") and
its dose ``unit``. Tablets are given whole or halved (scored tablets); a quarter tablet is not a
dose a patient can measure reliably, so a plan needing one is refused (issue 9 §5). Liquids and
strengths we cannot read are measured, not counted: any amount is giveable and no tablet words
are shown.
"""

from __future__ import annotations

import re
from fractions import Fraction

LIQUID_WORDS = ("/ml", "/ 5 ml", "/5ml", "/5 ml", "ml", "solution", "suspension", "liquid", "syrup", "granules")
HALF = Fraction(1, 2)
GLYPHS = {Fraction(0): "", Fraction(1, 4): "¼", HALF: "½", Fraction(3, 4): "¾"}
# SMS stays in the GSM-7 alphabet (160 characters a segment; one "½" would make it 70).
PLAIN_GLYPHS = {Fraction(0): "", Fraction(1, 4): "1/4", HALF: "1/2", Fraction(3, 4): "3/4"}
_STRENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zµ]+)\b")


def tablet_strength(strength: str, unit: str) -> float | None:
    """The amount in one tablet, in ``unit``; None for a liquid or a strength we cannot read."""
    text = (strength or "").strip().lower()
    if not text or any(word in text for word in LIQUID_WORDS):
        return None
    found = _STRENGTH.match(text)
    if not found or found.group(2) != (unit or "").strip().lower():
        return None
    value = float(found.group(1))
    return value if value > 0 else None


def tablets(amount: float, strength: str, unit: str) -> Fraction | None:
    """``amount`` as a count of tablets when the strength is a tablet's; else None."""
    per_tablet = tablet_strength(strength, unit)
    if per_tablet is None:
        return None
    return Fraction(amount).limit_denominator(1000) / Fraction(per_tablet).limit_denominator(1000)


def giveable(amount: float, strength: str, unit: str) -> bool:
    """Whether whole or half tablets (whole capsules) give ``amount`` exactly (always, for liquids)."""
    count = tablets(amount, strength, unit)
    smallest = 1 if form_of(strength) == "capsule" else HALF
    return count is None or (count > 0 and (count / smallest).denominator == 1)


def form_of(strength: str) -> str:
    return "capsule" if "capsule" in (strength or "").lower() else "tablet"


def in_hand(amount: float, strength: str, unit: str, plain: bool = False) -> str:
    """The amount and, for tablets, their count: ``10 mg (1 tablet)``, ``15 mg (1½ tablets)``,
    ``7.5 mg (¾ tablet)``; ``10 mL`` for a liquid. ``plain`` writes "1 1/2" (for SMS)."""
    measured = f"{amount:g} {unit}"
    count = tablets(amount, strength, unit)
    if count is None:
        return measured
    return f"{measured} ({tablet_words(count, form_of(strength), plain)})"


def dose_words(amount: float, strength: str, unit: str) -> str:
    """How a page shows a dose, the count in the hand first: ``1½ tablets (15 mg)``,
    ``¾ tablet (7.5 mg)``; ``10 mL`` for a liquid or a strength we cannot read (issue 14 §2)."""
    measured = f"{amount:g} {unit}"
    count = tablets(amount, strength, unit)
    if count is None:
        return measured
    return f"{tablet_words(count, form_of(strength))} ({measured})"


def tablet_words(count: Fraction, form: str = "tablet", plain: bool = False) -> str:
    """``1 tablet``, ``1½ tablets``, ``¾ tablet``, ``2 capsules`` (``1 1/2 tablets`` when ``plain``)."""
    whole, part = divmod(count, 1)
    glyphs = PLAIN_GLYPHS if plain else GLYPHS
    if part in glyphs:
        joint = " " if plain and whole and part else ""
        number = f"{int(whole) if whole else ''}{joint}{glyphs[part]}" or "0"
        return f"{number} {form}" + ("" if count <= 1 else "s")
    return f"{float(count):g} {form}s"
