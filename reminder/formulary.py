"""The bundled formulary: per ingredient and route, what makes a dose safe.

Names resolve to ingredients in ``ingredients.py``; this table keys on the ingredient. Each fact
cites its source. Used to mark a new medication ``withdrawal_risk`` by default, to set its
ceilings (the floor only a clinician may loosen: domain.md section 6), to name the risk plainly
in alerts, and to spot sedating combinations. Alerts never advise a dose.

Withdrawal risk: domain.md section 3 (baclofen labelling; FDA safety communications on
benzodiazepines and opioids; clonidine and beta-blocker labels; tizanidine label: rebound
hypertension and tachycardia on abrupt stop).
"""

from __future__ import annotations

from dataclasses import dataclass

from .ingredients import Ingredient, resolve, route_of

RISKS = {
    "baclofen": "Stopping baclofen suddenly can cause hallucinations, seizures and a high fever.",
    "benzodiazepine": "Stopping a benzodiazepine suddenly can cause seizures and severe withdrawal.",
    "clonidine": "Stopping clonidine suddenly can cause a dangerous rise in blood pressure.",
    "beta-blocker": "Stopping a beta-blocker suddenly can cause chest pain or a heart attack.",
    "antiepileptic": "Stopping an antiepileptic suddenly can cause seizures.",
    "gabapentinoid": "Stopping gabapentin or pregabalin suddenly can cause seizures and withdrawal.",
    "antidepressant": "Stopping this antidepressant suddenly can cause withdrawal symptoms.",
    "corticosteroid": "Stopping a long-term steroid suddenly can cause an adrenal crisis.",
    "opioid": "Stopping an opioid suddenly can cause severe withdrawal and uncontrolled pain.",
    "tizanidine": "Stopping tizanidine suddenly can cause a fast rise in blood pressure and heart rate.",
}
CLASS_OF = {
    "baclofen": "baclofen",
    "diazepam": "benzodiazepine",
    "lorazepam": "benzodiazepine",
    "clonazepam": "benzodiazepine",
    "alprazolam": "benzodiazepine",
    "temazepam": "benzodiazepine",
    "chlordiazepoxide": "benzodiazepine",
    "clonidine": "clonidine",
    "propranolol": "beta-blocker",
    "metoprolol": "beta-blocker",
    "atenolol": "beta-blocker",
    "bisoprolol": "beta-blocker",
    "carvedilol": "beta-blocker",
    "nebivolol": "beta-blocker",
    "levetiracetam": "antiepileptic",
    "lamotrigine": "antiepileptic",
    "valproate": "antiepileptic",
    "sodium valproate": "antiepileptic",
    "carbamazepine": "antiepileptic",
    "phenytoin": "antiepileptic",
    "topiramate": "antiepileptic",
    "lacosamide": "antiepileptic",
    "phenobarbital": "antiepileptic",
    "gabapentin": "gabapentinoid",
    "pregabalin": "gabapentinoid",
    "paroxetine": "antidepressant",
    "venlafaxine": "antidepressant",
    "duloxetine": "antidepressant",
    "sertraline": "antidepressant",
    "citalopram": "antidepressant",
    "escitalopram": "antidepressant",
    "fluoxetine": "antidepressant",
    "prednisolone": "corticosteroid",
    "prednisone": "corticosteroid",
    "hydrocortisone": "corticosteroid",
    "dexamethasone": "corticosteroid",
    "morphine": "opioid",
    "oxycodone": "opioid",
    "codeine": "opioid",
    "tramadol": "opioid",
    "fentanyl": "opioid",
    "buprenorphine": "opioid",
    "methadone": "opioid",
    "tapentadol": "opioid",
    "tizanidine": "tizanidine",
}
GENERIC_RISK = "This medication should not be stopped suddenly."
# What to watch for after too much, per class (the seed; baclofen label, overdosage: drowsiness,
# respiratory depression, coma; FDA Drug Safety Communications on combined CNS depressants).
WATCH_FOR = {
    "baclofen": (
        "Watch for strong drowsiness, confusion, muscle weakness, or slow or shallow breathing. Call emergency "
        "services (911) if breathing is slow or you cannot stay awake."
    ),
    "benzodiazepine": (
        "Watch for strong drowsiness, confusion, or slow or shallow breathing. Call emergency services (911) "
        "if breathing is slow or you cannot stay awake."
    ),
    "opioid": (
        "Watch for strong drowsiness, pinpoint pupils, or slow or shallow breathing. Call emergency services "
        "(911) at once if breathing is slow or you cannot stay awake; use naloxone if you have it."
    ),
    "clonidine": (
        "Watch for dizziness, fainting, a very slow heartbeat or strong drowsiness. Call emergency services (911) "
        "if you faint or cannot stay awake."
    ),
    "beta-blocker": (
        "Watch for dizziness, fainting or a very slow heartbeat. Call emergency services (911) if you faint or "
        "feel short of breath."
    ),
    "tizanidine": (
        "Watch for strong drowsiness, dizziness, fainting or a very slow heartbeat. Call emergency services (911) "
        "if you faint or cannot stay awake."
    ),
}


# Library names that differ from the ones above.
CLASS_OF["valproic acid"] = "antiepileptic"

SEDATING_CLASSES = {"benzodiazepine", "opioid", "gabapentinoid", "baclofen", "tizanidine"}
# Other sedating medicines (z-drugs, sedating antihistamines, muscle relaxants): FDA Drug Safety
# Communications on combined CNS depressants (opioids with benzodiazepines, 2016; gabapentinoids
# with CNS depressants, 2019); baclofen label ("additive CNS effects").
SEDATING = {
    "zolpidem",
    "zopiclone",
    "eszopiclone",
    "zaleplon",
    "diphenhydramine",
    "doxylamine",
    "promethazine",
    "hydroxyzine",
    "chlorpheniramine",
    "cyclobenzaprine",
    "methocarbamol",
    "carisoprodol",
    "orphenadrine",
    "metaxalone",
    "quetiapine",
    "mirtazapine",
    "trazodone",
    "amitriptyline",
}


@dataclass(frozen=True)
class Limits:
    """Ceilings and pace for one ingredient by one route, in ``unit``, with their source."""

    unit: str
    max_daily: float | None = None
    max_single: float | None = None
    titration_step: float | None = None  # the largest rise of the daily total a patient may make
    titration_days: int = 3  # ... and no more often than every this many days
    renal_cleared: bool = False
    source: str = ""


# Per (ingredient, route). Oral baclofen: at most 80 mg a day in three or four doses, so one dose
# above half of it is refused; start 5 mg three times a day and rise by at most 15 mg a day every
# 3 days ("start low, go slow"); renally cleared ("reduce in renal impairment").
LIMITS = {
    ("baclofen", "oral"): Limits(
        "mg",
        80,
        40,
        15,
        3,
        True,
        "Baclofen tablets label: maximum 80 mg a day (20 mg four times a day), raised by 15 mg a day every "
        "3 days; reduce in renal impairment. NHS: start with 5 mg three times a day.",
    ),
    # Intrathecal baclofen is programmed into the pump by the clinic, in micrograms: never added to
    # oral totals (Gablofen and Lioresal Intrathecal labels, boxed warning on abrupt stop).
    ("baclofen", "intrathecal"): Limits("mcg", source="Gablofen and Lioresal Intrathecal labels."),
    ("tizanidine", "oral"): Limits(
        "mg",
        36,
        16,
        4,
        1,
        True,
        "Tizanidine label: at most three doses and 36 mg in 24 hours; single doses over 16 mg not studied; "
        "raise by 2 to 4 mg; reduce when creatinine clearance is under 25 mL/min.",
    ),
    ("diazepam", "oral"): Limits("mg", 40, 10, source="Diazepam tablets label: 2 to 10 mg three or four times a day."),
    ("alprazolam", "oral"): Limits("mg", 10, source="Alprazolam label: panic disorder, up to 10 mg a day."),
    ("lorazepam", "oral"): Limits("mg", 10, source="Lorazepam label: 2 to 10 mg a day in divided doses."),
    ("clonazepam", "oral"): Limits("mg", 20, source="Clonazepam label: at most 20 mg a day."),
    ("clonidine", "oral"): Limits("mg", 2.4, source="Clonidine tablets label: at most 2.4 mg a day."),
    ("gabapentin", "oral"): Limits(
        "mg",
        3600,
        1200,
        renal_cleared=True,
        source="Gabapentin label: up to 3600 mg a day in three doses; adjust to renal function.",
    ),
    ("pregabalin", "oral"): Limits(
        "mg",
        600,
        300,
        renal_cleared=True,
        source="Pregabalin label: at most 600 mg a day in two or three doses; adjust to renal function.",
    ),
    ("zolpidem", "oral"): Limits(
        "mg", 10, 10, source="FDA Drug Safety Communication 2013: zolpidem at most 10 mg, once a night."
    ),
}


@dataclass(frozen=True)
class Facts:
    """What the formulary knows of one medication entry."""

    ingredient: Ingredient | None
    route: str
    limits: Limits | None
    drug_class: str | None

    @property
    def withdrawal_risk(self) -> bool:
        return self.drug_class is not None

    @property
    def sedating(self) -> bool:
        name = self.ingredient.name if self.ingredient else ""
        return self.drug_class in SEDATING_CLASSES or name in SEDATING


def facts(name: str, route: str | None = None) -> Facts:
    """The formulary's facts for a medication name and chosen route."""
    ingredient = resolve(name)
    chosen = route_of(name, route)
    found = CLASS_OF.get(ingredient.name) if ingredient else None
    return Facts(
        ingredient, chosen, LIMITS.get((ingredient.name, chosen)) if ingredient else None, found or _class_by_word(name)
    )


def drug_class(name: str) -> str | None:
    """The withdrawal-risk class of a medication name (through its ingredient), if any."""
    return facts(name).drug_class


def _class_by_word(name: str) -> str | None:
    lowered = (name or "").lower()
    if lowered.strip() in CLASS_OF:
        return CLASS_OF[lowered.strip()]
    for word in lowered.replace("-", " ").replace("/", " ").split():
        if word in CLASS_OF:
            return CLASS_OF[word]
    return None


def watch_for(name: str, ingredient: str | None = None) -> str:
    """What a patient who took too much should watch for, and when to call emergency services.
    ``ingredient`` (as stored on the medication) saves resolving the name again."""
    found = CLASS_OF.get(ingredient) if ingredient else drug_class(name)
    return WATCH_FOR.get(found or "", "")


def risk_text(name: str) -> str:
    found = drug_class(name)
    return RISKS[found] if found else GENERIC_RISK
