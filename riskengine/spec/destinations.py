"""The destinations file (shared/spec/destinations.md): NCCIS current-activity codes and their categories."""

from __future__ import annotations

from typing import Final

COLUMNS: Final = ("upn", "activity_code", "activity_date", "academic_age")
REQUIRED_COLUMNS: Final = ("upn", "activity_code", "activity_date")
ACADEMIC_AGE_RANGE: Final = (16, 18)

#: NCCIS current-activity code -> (category, plain meaning). Categories: below_leaving_age, not_known,
#: other, eet, neet. Codes 530 and the "Other" ones are re-classified by an outcome definition, not here.
ACTIVITY_CODES: Final[dict[int, tuple[str, str]]] = {
    110: ("below_leaving_age", "registered at a school"),
    120: ("below_leaving_age", "educated at home"),
    140: ("below_leaving_age", "not registered at a school"),
    150: ("not_known", "below leaving age, current situation not known"),
    130: ("other", "custodial sentence"),
    290: ("other", "custodial institution"),
    710: ("other", "custody (young adult offender)"),
    210: ("eet", "school sixth form"),
    220: ("eet", "sixth-form college"),
    230: ("eet", "further education"),
    240: ("eet", "higher education"),
    250: ("eet", "part-time education"),
    260: ("eet", "gap year"),
    270: ("eet", "other full-time education"),
    280: ("eet", "special post-16 institution"),
    310: ("eet", "apprenticeship"),
    320: ("eet", "full-time employment with study"),
    330: ("eet", "employment without training"),
    340: ("eet", "employment with other training"),
    350: ("eet", "temporary employment"),
    360: ("eet", "part-time employment"),
    380: ("eet", "self-employment"),
    381: ("eet", "self-employment with study"),
    410: ("eet", "funded work-based learning"),
    430: ("eet", "other training"),
    440: ("eet", "DWP training"),
    450: ("eet", "traineeship"),
    460: ("eet", "supported internship"),
    530: ("neet", "re-engagement provision"),
    540: ("neet", "working not for reward"),
    550: ("neet", "working not for reward with part-time study"),
    610: ("neet", "not yet ready for work or learning"),
    615: ("neet", "start date agreed (other)"),
    616: ("neet", "start date agreed (RPA compliant)"),
    619: ("neet", "seeking employment, education or training"),
    620: ("neet", "young carer"),
    630: ("neet", "teenage parent"),
    640: ("neet", "illness"),
    650: ("neet", "pregnancy"),
    660: ("neet", "religious grounds"),
    670: ("neet", "unlikely to be economically active"),
    680: ("neet", "other reason"),
    720: ("other", "refugee / asylum seeker"),
    810: ("not_known", "current situation not known"),
    820: ("not_known", "cannot be contacted"),
    830: ("not_known", "refused to disclose activity"),
}
RE_ENGAGEMENT_CODE: Final = 530
CATEGORIES: Final = ("below_leaving_age", "eet", "neet", "not_known", "other")


def codes_in(category: str) -> tuple[int, ...]:
    """The activity codes the spec places in `category`."""
    return tuple(code for code, (cat, _) in ACTIVITY_CODES.items() if cat == category)


def canonical_dtypes() -> dict[str, str]:
    """In-memory dtypes of a canonical destinations frame (activity_date is datetime64)."""
    return {
        "upn": "string",
        "activity_code": "Int64",
        "activity_date": "datetime64[ns]",
        "academic_age": "Int64",
    }
