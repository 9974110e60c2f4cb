"""The termly pupil upload (shared/spec/pupil-term-upload.md): columns, types and national code lists."""

from __future__ import annotations

from typing import Final

import pandas as pd

KEY_COLUMNS: Final = ("upn", "school_urn", "academic_year", "term", "ncyear")

COUNT_COLUMNS: Final = (
    "sessions_possible",
    "sessions_authorised_absence",
    "sessions_unauthorised_absence",
    "suspensions",
    "suspension_sessions",
)
REQUIRED_BOOL_COLUMNS: Final = ("permanent_exclusion", "looked_after", "fsm_eligible")
OPTIONAL_BOOL_COLUMNS: Final = (
    "child_in_need",
    "eal",
    "young_carer",
    "youth_justice",
    "alternative_provision",
)
BOOL_COLUMNS: Final = REQUIRED_BOOL_COLUMNS + OPTIONAL_BOOL_COLUMNS
KS2_COLUMNS: Final = ("ks2_reading_scaled", "ks2_maths_scaled")
OPTIONAL_INT_COLUMNS: Final = ("school_moves", *KS2_COLUMNS)
CODE_COLUMNS: Final = ("sen_provision", "sen_primary_need")
AUDIT_COLUMNS: Final = ("sex", "ethnicity")

#: Every canonical column, in the order a canonical file lists them.
COLUMNS: Final = (
    *KEY_COLUMNS,
    *COUNT_COLUMNS,
    "permanent_exclusion",
    "sen_provision",
    "sen_primary_need",
    "looked_after",
    "child_in_need",
    "fsm_eligible",
    "eal",
    "young_carer",
    "youth_justice",
    "alternative_provision",
    "school_moves",
    *KS2_COLUMNS,
    *AUDIT_COLUMNS,
)
#: Columns a file must carry (values may still be blank = unknown for risk factors).
REQUIRED_COLUMNS: Final = (*KEY_COLUMNS, *COUNT_COLUMNS, *REQUIRED_BOOL_COLUMNS, "sen_provision")
OPTIONAL_COLUMNS: Final = tuple(c for c in COLUMNS if c not in REQUIRED_COLUMNS)

#: Identity (spec "Identity"): personal data for the pupil's own school and its advisers. Never in COLUMNS,
#: so never in pupil_terms, features, models or evaluations; stored apart (store.tables.pupil_identity).
IDENTITY_COLUMNS: Final = ("forename", "surname", "date_of_birth", "tutor_group")
DATE_OF_BIRTH_FORMATS: Final = ("%Y-%m-%d", "%d/%m/%Y")
#: Age on 31 August before the academic year starts = NC year + 5 (Year 7: 11); a date of birth may differ
#: by this many years (pupils taught out of their year group).
DOB_TOLERANCE_YEARS: Final = 1

TERMS: Final = ("autumn", "spring", "summer")
NCYEAR_RANGE: Final = (7, 14)
SCORED_FROM_NCYEAR: Final = 9
KS2_RANGE: Final = (80, 120)

SEN_PROVISION: Final = {"N": "No SEN", "K": "SEN support", "E": "Education, Health and Care plan"}
SEN_PRIMARY_NEED: Final = {
    "SPLD": "Specific learning difficulty",
    "MLD": "Moderate learning difficulty",
    "SLD": "Severe learning difficulty",
    "PMLD": "Profound and multiple learning difficulty",
    "SEMH": "Social, emotional and mental health",
    "SLCN": "Speech, language and communication needs",
    "HI": "Hearing impairment",
    "VI": "Visual impairment",
    "MSI": "Multi-sensory impairment",
    "PD": "Physical disability",
    "ASD": "Autistic spectrum disorder",
    "OTH": "Other difficulty or disability",
    "NSA": "SEN support but no specialist assessment of type of need",
}
SEX: Final = {"F": "Female", "M": "Male", "U": "Unknown"}

#: DfE ethnicity codes by major group (School Census CS ethnicity, main and extended codes' main parts).
ETHNICITY_MAJOR_GROUP: Final = {
    "WBRI": "White",
    "WIRI": "White",
    "WIRT": "White",
    "WOTH": "White",
    "WROM": "White",
    "MWBC": "Mixed",
    "MWBA": "Mixed",
    "MWAS": "Mixed",
    "MOTH": "Mixed",
    "AIND": "Asian",
    "APKN": "Asian",
    "ABAN": "Asian",
    "AOTH": "Asian",
    "BCRB": "Black",
    "BAFR": "Black",
    "BOTH": "Black",
    "CHNE": "Chinese",
    "OOTH": "Other",
    "REFU": "Unclassified",
    "NOBT": "Unclassified",
}
ETHNICITY_MAJOR_GROUPS: Final = ("White", "Mixed", "Asian", "Black", "Chinese", "Other", "Unclassified")

TRUE_TOKENS: Final = frozenset({"y", "yes", "1", "true"})
FALSE_TOKENS: Final = frozenset({"n", "no", "0", "false"})


def year_start(academic_year: str) -> int:
    """`'2024/25'` -> 2024. Assumes a valid academic year."""
    return int(academic_year[:4])


def academic_year(start: int) -> str:
    """2024 -> `'2024/25'`."""
    return f"{start}/{(start + 1) % 100:02d}"


def is_valid_academic_year(value: str) -> bool:
    """True for `YYYY/YY` where the second part is the first plus one."""
    if len(value) != 7 or value[4] != "/" or not (value[:4].isdigit() and value[5:].isdigit()):
        return False
    return academic_year(int(value[:4])) == value


def term_index(academic_year_: str, term: str) -> int:
    """A single increasing number per term, so terms sort and subtract (autumn 2024/25 -> 6072)."""
    return year_start(academic_year_) * 3 + TERMS.index(term)


def term_indices(academic_years: pd.Series, terms: pd.Series) -> pd.Series:
    """`term_index` of whole columns at once, so frames order their terms exactly as the store does."""
    return academic_years.str.slice(0, 4).astype(int) * 3 + terms.map({t: i for i, t in enumerate(TERMS)})


def canonical_dtypes() -> dict[str, str]:
    """The in-memory pandas dtypes of a canonical pupil-terms frame: nullable, so blank stays unknown.

    Text and codes are "string", counts and years "Int64", flags "boolean". The reader, the store and the
    synthetic generator all produce frames with exactly these dtypes.
    """
    dtypes = dict.fromkeys(COLUMNS, "string")
    dtypes.update(dict.fromkeys(("ncyear", *COUNT_COLUMNS, *OPTIONAL_INT_COLUMNS), "Int64"))
    dtypes.update(dict.fromkeys(BOOL_COLUMNS, "boolean"))
    return dtypes
