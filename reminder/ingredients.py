"""What a medication name means: its active ingredient and route.

Names resolve through ``drug-named-entity-recognition`` (MIT, offline, built from DrugBank and
MedlinePlus), which knows brands and common misspellings ("Lioresal", "Ozobax", "baclophen" ->
baclofen; "Xanax" -> alprazolam) and gives the DrugBank id and the MedlinePlus leaflet id. Our own
table below holds only what the library misses, each entry with its source. Rules key on the
ingredient and route, never on the name a patient typed: two entries of one ingredient are one
drug to the body (domain.md section 6, "Ingredients, not names").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

ROUTES = ("oral", "intrathecal")
MEDLINEPLUS_URL = "https://medlineplus.gov/druginfo/meds/{}.html"

# Brands the library does not know (checked against drug-named-entity-recognition 2.0.9).
SUPPLEMENT = {
    # FDA labels: Fleqsuvy (baclofen oral suspension, 2022), Lyvispah (baclofen oral granules, 2021).
    "fleqsuvy": ("baclofen", "DB00181", "a682530"),
    "lyvispah": ("baclofen", "DB00181", "a682530"),
}
# Products given only into the spinal fluid through a pump (Gablofen label; Lioresal Intrathecal
# label): the route is intrathecal whatever the patient chooses.
INTRATHECAL_WORDS = ("intrathecal", "gablofen", "pump")


@dataclass(frozen=True)
class Ingredient:
    name: str  # lower case, e.g. "baclofen"
    drugbank_id: str | None = None
    medline_plus_id: str | None = None

    @property
    def leaflet_url(self) -> str | None:
        return MEDLINEPLUS_URL.format(self.medline_plus_id) if self.medline_plus_id else None


def resolve(name: str) -> Ingredient | None:
    """The ingredient a medication name names, or None when neither source knows it."""
    return _resolve(" ".join(_words(name)))


def warm() -> None:
    """Load the library's tables now (a few seconds) rather than in the first request that names a
    drug: the server and the worker call this as they start."""
    resolve("baclofen")


def route_of(name: str, route: str | None = None) -> str:
    """The route: intrathecal for pump products whatever was chosen, else the choice, else oral."""
    if any(word in _words(name) for word in INTRATHECAL_WORDS):
        return "intrathecal"
    return route or "oral"


@lru_cache(maxsize=4096)
def _resolve(normalised: str) -> Ingredient | None:
    words = normalised.split()
    for word in words:
        if word in SUPPLEMENT:
            return Ingredient(*SUPPLEMENT[word])
    if not words:
        return None
    # Imported on first use: loading the library's tables takes seconds, which no CLI command or
    # app start should pay. Exact matches only: fuzzy matching turns unrelated words into drugs.
    from drug_named_entity_recognition import find_drugs

    found = find_drugs(words, is_ignore_case=True)
    if not found:
        return None
    drug = found[0][0]
    # Some library names carry a qualifier: "Propranolol (cardiovascular)".
    plain = re.sub(r"\s*\(.*?\)", "", drug["name"]).strip().lower()
    return Ingredient(plain, drug.get("drugbank_id"), drug.get("medline_plus_id"))


def _words(name: str) -> list[str]:
    return re.findall(r"[a-z][a-z'-]*", (name or "").lower())
