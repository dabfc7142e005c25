"""What a patient must be told about a medication, by drug class, each text with its source.

Data only: the Safety page (``web/safety.py``) shows these, with the MedlinePlus leaflet where the
drug-name library gives one. Baclofen's texts follow the seed (``shared/seed``, "Baclofen: Uses,
Side Effects, and Safe Dosage Advice") and the baclofen labels; a class without texts of its own
gets ``GENERIC``. No text ever advises a dose.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from . import formulary

SEED = "Baclofen: Uses, Side Effects, and Safe Dosage Advice (the seed)"
LABEL = "Baclofen tablets label (warnings: abrupt drug withdrawal; renal impairment; overdosage)"
FDA_CNS = (
    "FDA Drug Safety Communications: opioids with benzodiazepines (2016); gabapentinoids with CNS depressants (2019)"
)
ITB_LABEL = "Gablofen and Lioresal Intrathecal labels (boxed warning: abrupt discontinuation)"


@dataclass(frozen=True)
class Section:
    """One thing a patient must know: a short heading, plain words, and where they come from."""

    key: str
    heading: str
    text: str
    source: str


BACLOFEN = (
    Section(
        "withdrawal",
        "Never stop suddenly",
        "Do not stop baclofen suddenly or skip several doses: withdrawal can start with muscle cramps and "
        "headaches and quickly lead to hallucinations, seizures or a dangerous high fever. Even missing a few "
        "doses can be risky. To stop, your prescriber lowers the dose slowly.",
        f"{SEED}; {LABEL}",
    ),
    Section(
        "when_to_call",
        "When to call",
        "Call your prescriber today if you have missed several doses, feel unusually stiff, have cramps, "
        "a headache or itching, or are so drowsy that daily life is hard. Call emergency services (911) for "
        "hallucinations, a seizure, a high fever, confusion, slow or shallow breathing, or if someone cannot "
        "stay awake.",
        f"{SEED}; {LABEL}",
    ),
    Section(
        "sedation",
        "Alcohol and other sedating medicines",
        "Alcohol, sleep aids, opioid pain medicines and anxiety medicines all add to baclofen's drowsiness. "
        "Together they can knock you out or slow your breathing, which is most dangerous if you live alone. "
        "Avoid alcohol, and tell your prescriber and pharmacist about every medicine you take.",
        f"{SEED}; {FDA_CNS}",
    ),
    Section(
        "driving",
        "Drowsiness and driving",
        "Drowsiness and dizziness are the most common side effects. Do not drive or use machinery until you "
        "know how baclofen affects you. If you are nodding off during the day, call your prescriber.",
        SEED,
    ),
    Section(
        "kidneys",
        "Kidney disease",
        "Baclofen leaves the body through the kidneys. With kidney disease the same dose has a stronger "
        "effect, so your prescriber checks your kidney function and may lower the dose.",
        f"{SEED}; {LABEL}",
    ),
    Section(
        "allergy",
        "Allergic reaction",
        "A rash, swelling, or shortness of breath can be an allergic reaction and needs quick medical care: "
        "call emergency services (911) for swelling or trouble breathing.",
        SEED,
    ),
    Section(
        "pregnancy",
        "Pregnancy and breastfeeding",
        "If you are pregnant, plan to become pregnant or are breastfeeding, talk to your prescriber: there "
        "are not enough studies in people to be sure it is safe. Do not stop baclofen on your own.",
        SEED,
    ),
    Section(
        "water",
        "Water with your dose",
        "Take each dose with a drink of water, at the same times every day. If you miss a dose and the next "
        "one is near, skip the missed one: never take two doses together.",
        SEED,
    ),
    Section(
        "travel",
        "Travel",
        "Bring extra supplies when you travel and keep them with you, not in checked luggage. Keep them dry "
        "and out of sunlight.",
        SEED,
    ),
    Section(
        "pump_card",
        "If you have a baclofen pump",
        "Carry your pump card so new doctors and emergency staff know about the pump. Never skip or delay a "
        "refill: a pump that runs empty causes withdrawal. Your pump card is on the Pumps page.",
        f"{SEED}; {ITB_LABEL}",
    ),
)

GENERIC = (
    Section(
        "instructions",
        "Take it as prescribed",
        "Take this medicine at the times your prescriber set. If you miss a dose and the next one is near, "
        "skip the missed one: never take two doses together.",
        "NHS Specialist Pharmacy Service: what should people do if they miss a dose",
    ),
    Section(
        "questions",
        "Questions and side effects",
        "Ask your prescriber or pharmacist about side effects, other medicines and alcohol. Call emergency "
        "services (911) for trouble breathing, swelling of the face or throat, or if someone cannot stay awake.",
        "MedlinePlus drug information",
    ),
)

WITHDRAWAL = Section(
    "withdrawal",
    "Never stop suddenly",
    "",  # the formulary's risk text for the class
    "Product labels; FDA safety communications (domain.md section 3)",
)

BY_CLASS = {"baclofen": BACLOFEN}


def page_path(name: str, route: str | None = None) -> str:
    """Where a medication's Safety page is (``/safety/<ingredient>``), by its ingredient when the
    formulary knows it, else by its name: no personal data, so any message may carry it."""
    facts = formulary.facts(name, route)
    slug = facts.ingredient.name if facts.ingredient else name.strip().lower()
    return "/safety/" + quote(slug or "medication", safe="")


def link_for(db, settings: dict, medication_id: int | None, names_hidden: bool = False) -> str:
    """The full Safety link of a withdrawal-risk medication, for a message; "" otherwise, and ""
    where the message hides the medication's name (``notify.name_medication`` off: a lock
    screen is not private, and the link names the ingredient)."""
    row = db.execute("SELECT name, route, withdrawal_risk FROM medications WHERE id = ?", [medication_id]).fetchone()
    if row is None or not row[2] or names_hidden:
        return ""
    return settings["server.base_url"] + page_path(row[0], row[1])


def sections(drug_class: str | None, risk: str) -> tuple[Section, ...]:
    """The sections for a drug class: its own, else the generic ones led (for a withdrawal-risk
    class) by the formulary's ``risk`` text."""
    if drug_class in BY_CLASS:
        return BY_CLASS[drug_class]
    if drug_class is None:
        return GENERIC
    lead = Section(
        WITHDRAWAL.key, WITHDRAWAL.heading, f"{risk} Ask your prescriber how to stop it safely.", WITHDRAWAL.source
    )
    return (lead, *GENERIC)
