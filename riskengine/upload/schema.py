"""The upload spec as pandera schemas, with every check's message written for a school data manager.

Validation runs in two passes over the normalised text cells: column checks (type, code list, range,
UPN check letter, no spreadsheet formulas) and then whole-row checks on the typed frame (absence within
possible sessions, duplicate UPNs, a file that disagrees with the upload's school, year or term). Both are
lazy, so a school sees all its problems at once. A check's `error` is its message template; `{value}` is
replaced by the offending cell.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from riskengine.spec import destinations as dest_spec
from riskengine.spec import upload as spec
from riskengine.spec.upn import is_temporary, upn_problem
from riskengine.upload.problems import problems

UPN_MESSAGE = "<upn problem>"
BLANK_MESSAGE = "is blank; every row needs a value here"
_NUMBER = r"[+-]?\d+(?:\.\d+)?"
_WHOLE = r"\d{1,6}"


_BOOLS = dict.fromkeys(spec.TRUE_TOKENS, True) | dict.fromkeys(spec.FALSE_TOKENS, False)


def whole_numbers(cells: pd.Series) -> pd.Series:
    """Text cells as Int64; anything that is not a plain whole number (already reported) becomes NA."""
    whole = cells.astype("string").where(cells.str.fullmatch(_WHOLE).fillna(False))
    return whole.astype("Int64")


def normalised_upns(cells: pd.Series) -> pd.Series:
    """UPNs as the store keys them: schools type them spaced and in either case, and a pupil must match
    their own earlier terms and destinations whichever way a file wrote them."""
    return cells.str.replace(" ", "", regex=False).str.upper()


def typed_cells(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """Validated text cells -> a frame of exactly `dtypes`. Cells that failed validation (already reported)
    and columns the file lacks become NA, so one spec drives both termly files and destinations."""
    out = {}
    for column, dtype in dtypes.items():
        cells = frame[column] if column in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
        if dtype == "Int64":
            out[column] = whole_numbers(cells)
        elif dtype == "boolean":
            out[column] = cells.map(_BOOLS).astype("boolean")
        elif dtype.startswith("datetime"):
            out[column] = pd.to_datetime(cells, format="%Y-%m-%d", errors="coerce")
        else:
            out[column] = cells.astype("string")
    return pd.DataFrame(out, index=frame.index).astype(dtypes)


def _check(fn: Callable[[pd.Series], pd.Series], message: str) -> pa.Check:
    return pa.Check(fn, error=message)


def _not_formula(cells: pd.Series) -> pd.Series:
    """False for a cell starting =, +, - or @ that is not a plain number. The first character is looked at
    first, as a plain prefix test (every cell of every column passes through here: regexes were slow)."""
    suspect = cells.str.startswith(("=", "+", "-", "@")).fillna(False).astype(bool)
    if not suspect.any():
        return ~suspect
    return ~(suspect & ~cells.str.fullmatch(_NUMBER).fillna(False).astype(bool))


def no_formula() -> pa.Check:
    """Cells a spreadsheet would run as a formula (CSV injection) are refused outright."""
    return _check(_not_formula, "'{value}' looks like a spreadsheet formula; only plain values are accepted")


def whole_number(low: int = 0, high: int | None = None, what: str = "") -> list[pa.Check]:
    checks = [_check(lambda s: s.str.fullmatch(_WHOLE), "'{value}' should be a whole number" + what)]
    if high is not None:
        checks.append(
            _check(
                lambda s: whole_numbers(s).between(low, high),
                f"'{{value}}' should be between {low} and {high}",
            )
        )
    return checks


def one_of(codes, description: str) -> list[pa.Check]:
    codes = list(codes)
    return [_check(lambda s: s.isin(codes), f"'{{value}}' is not {description}")]


def _on_unique(cells: pd.Series, fn: Callable[[str], object]) -> dict[str, object]:
    """`fn` of each distinct value: a column of 100,000 rows usually holds one academic year."""
    return {value: fn(value) for value in cells.dropna().unique()}


#: A pupil's UPN recurs in every term's file, so a batch of a few years' files checks each one once.
_cached_upn_problem = functools.lru_cache(maxsize=1 << 20)(upn_problem)


def upn_checks() -> list[pa.Check]:
    return [_check(lambda s: s.map(_cached_upn_problem).isna(), UPN_MESSAGE)]


BOOL_CHECK = one_of(
    sorted(spec.TRUE_TOKENS | spec.FALSE_TOKENS),
    "a yes/no value (use Y or N; Yes/No, 1/0, true/false also work)",
)


def _pupil_column_checks() -> dict[str, list[pa.Check]]:
    checks: dict[str, list[pa.Check]] = {
        "upn": upn_checks(),
        "school_urn": [
            _check(lambda s: s.str.fullmatch(r"\d{6}"), "'{value}' should be the school's 6-digit URN")
        ],
        "academic_year": [
            _check(
                lambda s: s.map(_on_unique(s, spec.is_valid_academic_year)).astype("boolean"),
                "'{value}' should be an academic year written like 2024/25",
            )
        ],
        "term": one_of(spec.TERMS, "a term (autumn, spring or summer)"),
        "ncyear": whole_number(*spec.NCYEAR_RANGE, what=" (the National Curriculum year, 7 to 14)"),
        "sen_provision": one_of(spec.SEN_PROVISION, "a SEN provision code (N, K or E)"),
        "sen_primary_need": one_of(
            spec.SEN_PRIMARY_NEED, f"a SEN primary need code ({' '.join(spec.SEN_PRIMARY_NEED)})"
        ),
        "sex": one_of(spec.SEX, "a sex code (F, M or U)"),
        "ethnicity": one_of(
            spec.ETHNICITY_MAJOR_GROUP, "a DfE ethnicity code (such as WBRI, MWBC, AIND, REFU)"
        ),
        "school_moves": whole_number(0, 99),
    }
    checks.update({c: whole_number(0, 9999) for c in spec.COUNT_COLUMNS})
    checks.update({c: whole_number(*spec.KS2_RANGE, what=" (a KS2 scaled score)") for c in spec.KS2_COLUMNS})
    checks.update({c: BOOL_CHECK for c in spec.BOOL_COLUMNS})
    return checks


def _dest_column_checks() -> dict[str, list[pa.Check]]:
    iso = r"\d{4}-\d{2}-\d{2}"
    return {
        "upn": upn_checks(),
        "activity_code": [
            _check(
                lambda s: s.isin([str(c) for c in dest_spec.ACTIVITY_CODES]),
                "'{value}' is not an NCCIS current activity code",
            )
        ],
        "activity_date": [
            _check(
                lambda s: (
                    s.str.fullmatch(iso) & pd.to_datetime(s, format="%Y-%m-%d", errors="coerce").notna()
                ),
                "'{value}' should be a date written like 2025-01-31",
            )
        ],
        "academic_age": whole_number(*dest_spec.ACADEMIC_AGE_RANGE, what=" (academic age 16 to 18)"),
    }


@dataclass(frozen=True)
class RowCheck:
    """A whole-row rule on the typed frame: `ok` is True where a row passes; `message` words the failures."""

    name: str
    column: str
    ok: Callable[[pd.DataFrame], pd.Series]
    message: Callable[[pd.DataFrame], pd.Series]
    needs: tuple[str, ...]
    #: The message needs the whole frame (e.g. the other rows sharing a UPN), not just the failing rows.
    whole: bool = False


def _text(s: pd.Series) -> pd.Series:
    return s.astype("string").fillna("blank")


DUPLICATE_ROWS_LISTED = 10


def _first_repeat(upn: pd.Series) -> pd.Series:
    """True on the second row of each UPN that appears more than once."""
    repeat = upn.duplicated(keep="first") & upn.notna()
    return repeat & ~upn.where(repeat).duplicated(keep="first")


def pupil_row_checks(upload_values: dict[str, str]) -> list[RowCheck]:
    absence = ("sessions_possible", "sessions_authorised_absence", "sessions_unauthorised_absence")

    def total_absence(f: pd.DataFrame) -> pd.Series:
        return f["sessions_authorised_absence"].fillna(0) + f["sessions_unauthorised_absence"].fillna(0)

    def duplicate_rows(f: pd.DataFrame) -> pd.Series:
        """Rows sharing each UPN, at most DUPLICATE_ROWS_LISTED of them named: one bounded line per UPN.
        Built column-wise (a wide table of the first rows per UPN), so 50,000 repeated UPNs stay fast."""
        repeated = f["upn"].notna() & f["upn"].duplicated(keep=False)
        if not repeated.any():
            return pd.Series(pd.NA, index=f.index, dtype="string")
        rows = pd.DataFrame({"upn": f.loc[repeated, "upn"], "row": f.index[repeated.to_numpy()]})
        rows["n"] = rows.groupby("upn").cumcount()
        size = rows.groupby("upn")["row"].size()
        wide = rows[rows["n"] < DUPLICATE_ROWS_LISTED].pivot(index="upn", columns="n", values="row")
        listed = wide[0].astype("Int64").astype("string")
        for n in wide.columns[1:]:
            part = wide[n].astype("Int64").astype("string")
            listed = listed.where(part.isna(), listed + ", " + part)
        more = (size - DUPLICATE_ROWS_LISTED).clip(lower=0).reindex(listed.index)
        tail = (" and " + more.astype("string") + " more").where(more > 0, "")
        text = "the same UPN appears more than once, on rows " + listed + tail
        return f["upn"].map(text).astype("string")

    checks = [
        RowCheck(
            "absence_within_possible",
            "sessions_possible",
            lambda f: (total_absence(f) <= f["sessions_possible"]).fillna(True),
            lambda f: (
                "absence ("
                + _text(f["sessions_authorised_absence"])
                + " authorised + "
                + _text(f["sessions_unauthorised_absence"])
                + " unauthorised sessions) is more than the "
                + _text(f["sessions_possible"])
                + " possible sessions"
            ),
            absence,
        ),
        RowCheck(
            "suspension_within_possible",
            "suspension_sessions",
            lambda f: (f["suspension_sessions"] <= f["sessions_possible"]).fillna(True),
            lambda f: (
                "sessions lost to suspension ("
                + _text(f["suspension_sessions"])
                + ") are more than the "
                + _text(f["sessions_possible"])
                + " possible sessions"
            ),
            ("suspension_sessions", "sessions_possible"),
        ),
        RowCheck(
            "need_blank_without_sen",
            "sen_primary_need",
            lambda f: ~((f["sen_provision"] == "N") & f["sen_primary_need"].notna()).fillna(False),
            lambda f: (
                "should be blank when sen_provision is N (no SEN), but is " + _text(f["sen_primary_need"])
            ),
            ("sen_provision", "sen_primary_need"),
        ),
        RowCheck(
            "unique_upn",
            "upn",
            # One problem per repeated UPN, on its first repeat (a file of one UPN 100,000 times is one line).
            lambda f: ~_first_repeat(f["upn"]),
            duplicate_rows,
            ("upn",),
            whole=True,
        ),
    ]
    for column, expected in upload_values.items():
        checks.append(
            RowCheck(
                f"matches_upload_{column}",
                column,
                lambda f, c=column, e=expected: (f[c] == e).fillna(True),
                lambda f, c=column, e=expected: (
                    "the file says " + _text(f[c]) + f" but this upload is for {e}"
                ),
                (column,),
            )
        )
    return checks


def pupil_warning_checks() -> dict[str, list[pa.Check]]:
    """Column checks that do not block: the data is possible but worth a second look."""
    return {
        "upn": [
            _check(
                lambda s: ~s.map(is_temporary).astype(bool),
                "'{value}' is a temporary UPN; please replace it with the permanent one when it is issued",
            )
        ],
        "sessions_possible": [
            _check(
                lambda s: s.le(170),
                "{value} possible sessions is more than a term has (about 140); please check",
            )
        ],
    }


def column_schema(
    checks: dict[str, list[pa.Check]], columns, not_blank=(), refuse_formulas: bool = True
) -> pa.DataFrameSchema:
    """A schema over the `columns` the file has; `not_blank` columns must have a value in every row."""
    return pa.DataFrameSchema(
        {
            c: pa.Column(
                None,
                [no_formula(), *checks.get(c, [])] if refuse_formulas else checks.get(c, []),
                nullable=c not in not_blank,
                required=False,
            )
            for c in columns
        }
    )


PUPIL_CHECKS = _pupil_column_checks()
DEST_CHECKS = _dest_column_checks()


def run_column_checks(
    frame: pd.DataFrame,
    schema: pa.DataFrameSchema,
    file_columns: dict[str, str],
    as_written: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Problems (row, column, message) from a lazy pandera validation of `frame`; messages quote the cell
    as the school wrote it (`as_written`, before case normalisation) when given."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return problems()
    cases = cases[cases["index"].notna()].sort_values("check_number", kind="stable")
    values = cases["failure_case"].astype("string").fillna("")
    if as_written is not None:
        values = [
            str(as_written.at[row, column]) if value else value
            for row, column, value in zip(cases["index"], cases["column"], values, strict=True)
        ]
    template = cases["check"].astype("string")
    messages = [
        upn_problem(v)
        if t == UPN_MESSAGE
        else BLANK_MESSAGE
        if t == "not_nullable"
        else t.replace("{value}", v)
        for t, v in zip(template, values, strict=True)
    ]
    columns = cases["column"].astype("string")
    return problems(
        cases["index"].astype("int64"), columns, messages, [file_columns.get(c, c) for c in columns]
    )


def run_row_checks(typed: pd.DataFrame, checks: list[RowCheck], file_columns: dict[str, str]) -> pd.DataFrame:
    """Problems from the whole-row rules, run as one lazy pandera schema."""
    active = [c for c in checks if all(n in typed.columns for n in c.needs)]
    schema = pa.DataFrameSchema(checks=[pa.Check(c.ok, error=c.name) for c in active])
    try:
        schema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return problems()
    found = []
    for check in active:
        rows = cases.loc[cases["check"] == check.name, "index"].dropna().astype("int64").unique()
        if len(rows):
            rows = pd.Index(sorted(rows))
            message = check.message(typed).loc[rows] if check.whole else check.message(typed.loc[rows])
            found.append(
                problems(
                    rows, [check.column] * len(rows), message, [file_columns.get(check.column)] * len(rows)
                )
            )
    return pd.concat(found, ignore_index=True) if found else problems()
