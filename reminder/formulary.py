"""A small bundled formulary: drugs with documented harm when stopped suddenly.

Source: ../shared/domain.md section 3 (baclofen labelling; FDA safety communications on
benzodiazepines and opioids; clonidine and beta-blocker labels). Used to mark a new medication
``withdrawal_risk`` by default and to name the risk plainly in alerts. Alerts never advise a dose.
"""

from __future__ import annotations

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
}
CLASS_OF = {
    "baclofen": "baclofen",
    "lioresal": "baclofen",
    "lyflex": "baclofen",
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
}
GENERIC_RISK = "This medication should not be stopped suddenly."


def drug_class(name: str) -> str | None:
    """The withdrawal-risk class of a medication name (the first word that matches), if any."""
    lowered = (name or "").lower()
    if lowered.strip() in CLASS_OF:
        return CLASS_OF[lowered.strip()]
    for word in lowered.replace("-", " ").replace("/", " ").split():
        if word in CLASS_OF:
            return CLASS_OF[word]
    return None


def has_withdrawal_risk(name: str) -> bool:
    return drug_class(name) is not None


def risk_text(name: str) -> str:
    found = drug_class(name)
    return RISKS[found] if found else GENERIC_RISK
