"""Combined sedation: which medications must not be entered side by side without a warning.

Pure rules over the formulary's facts. Baclofen slows the brain and breathing; so do opioids,
benzodiazepines, z-drugs, gabapentinoids, sedating antihistamines and other muscle relaxants.
Together the effect adds up: deep sleep, slowed breathing, death (FDA Drug Safety Communications:
opioids with benzodiazepines, 2016; gabapentinoids with CNS depressants, 2019; baclofen label,
"additive CNS effects"; the seed: "sleep aids, opioids, anxiety meds ... can knock you out cold
or slow your breathing").
"""

from __future__ import annotations

from dataclasses import dataclass

from . import formulary
from .errors import InputError

# The drugs whose sedating neighbours are flagged (issue 10 section 3: baclofen, and the reverse).
ANCHORS = frozenset({"baclofen"})
SOURCE = (
    "FDA Drug Safety Communications: opioids with benzodiazepines (2016); gabapentinoids with CNS "
    "depressants (2019). Baclofen label: additive effects with other CNS depressants and alcohol."
)
WARNING = (
    "{first} and {second} both cause drowsiness. Taken together they can slow your breathing and make you "
    "very sleepy. Check with your prescriber or pharmacist before taking both, and avoid alcohol. Call "
    "emergency services (911) if breathing is slow or someone cannot stay awake."
)


@dataclass(frozen=True)
class Interaction:
    """Two medications (as the patient named them) that add up to combined sedation."""

    first: str
    second: str

    @property
    def text(self) -> str:
        return WARNING.format(first=self.first, second=self.second)


def combined_sedation(name: str, route: str, others: list[tuple[str, str]]) -> list[Interaction]:
    """The pairs ``name`` (by ``route``) makes with ``others`` ((name, route) each) where one is an
    anchor drug and the other sedating, and they are not the same ingredient."""
    new = formulary.facts(name, route)
    found = []
    for other_name, other_route in others:
        other = formulary.facts(other_name, other_route)
        if _interacts(new, other):
            found.append(Interaction(other_name, name))
    return found


def refuse_unacknowledged(name: str, route: str, others: list[tuple[str, str]], acknowledged: bool) -> None:
    """409 ``interaction_warning`` naming every pair, unless the patient acknowledged the warning."""
    pairs = combined_sedation(name, route, others)
    if pairs and not acknowledged:
        raise InputError(
            "name",
            " ".join(pair.text for pair in pairs) + f" (Source: {SOURCE})",
            status=409,
            code="interaction_warning",
        )


def another_drug(old_name: str, old_route: str, new_name: str, new_route: str) -> bool:
    """Whether renaming a medication makes it another drug (another ingredient or route, or an
    unknown name changed), so its neighbours are checked again as on create."""
    old, new = formulary.facts(old_name, old_route), formulary.facts(new_name, new_route)
    if old.ingredient is None or new.ingredient is None:
        return (old_name.strip().lower(), old_route) != (new_name.strip().lower(), new_route)
    return (old.ingredient.name, old.route) != (new.ingredient.name, new.route)


def flagged_pairs(entries: list[tuple[str, str]]) -> list[Interaction]:
    """Every combined-sedation pair among a patient's current medications ((name, route) each)."""
    found = []
    for index, (name, route) in enumerate(entries):
        found.extend(combined_sedation(name, route, entries[:index]))
    return found


def _interacts(first: formulary.Facts, second: formulary.Facts) -> bool:
    names = (_ingredient(first), _ingredient(second))
    if None in names or names[0] == names[1]:
        return False
    return (names[0] in ANCHORS and second.sedating) or (names[1] in ANCHORS and first.sedating)


def _ingredient(facts: formulary.Facts) -> str | None:
    return facts.ingredient.name if facts.ingredient else None
