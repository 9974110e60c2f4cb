"""Termly files of generated pupils with the optional identity columns added (made-up names only)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskengine.spec import upload as spec

#: Made-up name parts that occur nowhere else, so a grep for them finds only leaked identity.
FORENAMES = ("Quorbeth", "Zillamon", "Praxwell", "Yendolin")
SURNAMES = ("Vantaxo", "Kremwold", "Olberish", "Thundrae")


def identity_for(rows: pd.DataFrame) -> pd.DataFrame:
    """Names, a tutor group and a date of birth that fits each row's NC year (DD/MM/YYYY)."""
    codes = rows["upn"].str.slice(-5, -1).astype(int).to_numpy()  # digits even in a temporary UPN
    born_year = (
        rows["academic_year"].map(spec.year_start).to_numpy() - rows["ncyear"].astype(int).to_numpy() - 5
    )
    born_month = 1 + codes % 8  # January to August: aged ncyear + 5 on 31 August
    day = 1 + codes % 27
    dob = [f"{d:02d}/{m:02d}/{y}" for d, m, y in zip(day, born_month, born_year, strict=True)]
    return pd.DataFrame(
        {
            "forename": [FORENAMES[c % len(FORENAMES)] + str(c) for c in codes],
            "surname": [SURNAMES[c % len(SURNAMES)] for c in codes],
            "date_of_birth": dob,
            "tutor_group": [f"TG-Qx{c % 7}" for c in codes],
        },
        index=rows.index,
    )


def add_identity(paths: list[Path]) -> None:
    """Rewrite generated canonical CSVs with identity columns appended."""
    for path in paths:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        typed = frame.assign(ncyear=frame["ncyear"].astype(int))
        pd.concat([frame, identity_for(typed)], axis=1).to_csv(path, index=False)


def markers() -> list[str]:
    return [*FORENAMES, *SURNAMES, "TG-Qx"]
