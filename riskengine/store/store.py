"""The Store: one SQLAlchemy engine, the schema brought up to date by Alembic on open, and the read/write
API every other stage uses. Every write is a single transaction, so a failure stores nothing.

Opening is cheap: the database's `alembic_version` is compared with the newest revision among the shipped
migration files (read as text, no Alembic import), and Alembic runs only when they differ.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from riskengine.model.records import plain
from riskengine.spec import destinations as dest_spec
from riskengine.spec import upload as spec
from riskengine.store import tables as t

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PUPIL_TERMS_KIND = "pupil_terms"
DESTINATIONS_KIND = "destinations"


_REVISION = re.compile(r"""^(down_revision|revision)\s*(?::[^=\n]*)?=\s*['"]?([\w.-]+|None)['"]?""", re.M)


def head_revision() -> str | None:
    """The newest migration (the one no other revises), read from the migration files' text; None if the
    files do not name exactly one (then Alembic decides)."""
    revisions, revised = set(), set()
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        found = dict((key, value) for key, value in _REVISION.findall(path.read_text()))
        if "revision" in found:
            revisions.add(found["revision"])
            revised.add(found.get("down_revision"))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def default_url() -> str:
    """RISKENGINE_DB_URL, else a SQLite file under RISKENGINE_HOME, else the project's database, else
    ./.riskengine (`riskengine.project.database_url`)."""
    from riskengine.project import database_url

    return database_url()


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows as plain Python values (None for missing) ready for an executemany insert."""
    arrays = [frame[c].to_numpy(dtype=object, na_value=None) for c in columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*arrays, strict=True)]


def _replace_audit_attributes(
    connection: sa.Connection,
    attributes: pd.DataFrame | None,
    school_urn: str,
    academic_year: str,
    term: str,
    upload_id: int,
) -> None:
    """A school's term of audit-only attributes, replaced with the upload that carries them."""
    a = t.audit_attributes
    connection.execute(
        sa.delete(a).where(a.c.school_urn == school_urn, a.c.academic_year == academic_year, a.c.term == term)
    )
    if attributes is not None and len(attributes):
        rows = attributes.assign(
            school_urn=school_urn, academic_year=academic_year, term=term, upload_id=upload_id
        )
        _bulk_insert(connection, a, rows, [c.name for c in a.columns])


def _bulk_insert(
    connection: sa.Connection, table: sa.Table, frame: pd.DataFrame, columns: Sequence[str]
) -> None:
    """Insert a frame's rows fast, inside the caller's transaction: SQLAlchemy's per-row parameter handling
    is most of the cost of a 100,000-row upload, so the driver is fed directly (SQLite: executemany of
    plain tuples; PostgreSQL with psycopg: COPY). Only for text, integer, float and boolean columns (and
    JSON already serialised to text), which need no conversion; any other driver gets a Core executemany."""
    if frame.empty:
        return
    columns = list(columns)
    if connection.dialect.name == "sqlite":
        compiled = sa.insert(table).compile(dialect=connection.dialect, column_keys=columns)
        columns = list(compiled.positiontup)
    arrays = [frame[c].to_numpy(dtype=object, na_value=None) for c in columns]
    rows = zip(*arrays, strict=True)
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(str(compiled), list(rows))
    elif connection.dialect.driver == "psycopg":
        quote = connection.dialect.identifier_preparer.quote
        sql = f"COPY {quote(table.name)} ({', '.join(map(quote, columns))}) FROM STDIN"
        dbapi_error = connection.dialect.loaded_dbapi.Error
        try:
            with connection.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except dbapi_error as error:  # raise it as SQLAlchemy does for every other statement
            raise sa.exc.DBAPIError.instance(sql, None, error, dbapi_error) from error
    else:
        connection.execute(sa.insert(table), _records(frame, columns))


def _read_typed(
    connection: sa.Connection, query: sa.Select, columns: Sequence[str], dtypes: dict[str, str]
) -> pd.DataFrame:
    """A query's rows as a frame with the contract's nullable dtypes, built column by column.

    The rows come straight from the driver's cursor as plain tuples: SQLAlchemy's per-row Result objects
    were most of the cost of reading a term's history. Only text, integer and boolean columns are read
    this way (no type conversion needed; SQLite's 0/1 booleans become "boolean" in `pd.array`).
    """
    if connection.dialect.driver == "psycopg" and all(dtypes[c] in _ARROW_DTYPES for c in columns):
        return _copied_typed(connection, query, columns, dtypes)
    rows = connection.execute(query).cursor.fetchall()
    return _typed(rows, columns, dtypes)


#: Contract dtype -> the Arrow type a CSV column is parsed as.
_ARROW_DTYPES = {"string": "string", "Int64": "int64", "boolean": "bool"}


def _copied_typed(
    connection: sa.Connection, query: sa.Select, columns: Sequence[str], dtypes: dict[str, str]
) -> pd.DataFrame:
    """PostgreSQL: the query's rows as CSV through COPY, parsed by Arrow in C, so no Python object is made
    per value (psycopg's rows were most of the client's cost). In PostgreSQL's CSV a NULL is an unquoted
    empty field and an empty text a quoted one; flags are t/f."""
    import pyarrow as pa
    from pyarrow import csv

    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    sql = f"COPY ({compiled}) TO STDOUT (FORMAT csv)"
    dbapi_error = connection.dialect.loaded_dbapi.Error
    data = bytearray()
    try:
        with (
            connection.connection.driver_connection.cursor() as cursor,
            cursor.copy(sql, compiled.params) as copy,
        ):
            for block in copy:
                data += block
    except dbapi_error as error:  # raised as SQLAlchemy raises any other statement's (no parameters shown)
        raise sa.exc.DBAPIError.instance(sql, None, error, dbapi_error) from error
    if not data:
        return _typed([], columns, dtypes)
    table = csv.read_csv(
        pa.py_buffer(data),
        read_options=csv.ReadOptions(column_names=list(columns)),
        convert_options=csv.ConvertOptions(
            column_types={c: _ARROW_DTYPES[dtypes[c]] for c in columns},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    pandas_dtypes = {
        pa.string(): pd.StringDtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    return table.to_pandas(types_mapper=pandas_dtypes.get)


def _typed(rows: Sequence[Any], columns: Sequence[str], dtypes: dict[str, str]) -> pd.DataFrame:
    """Fetched rows as a frame with the contract's nullable dtypes (built column by column: fast)."""
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    return pd.DataFrame(
        {c: pd.array(list(v), dtype=dtypes[c]) for c, v in zip(columns, values, strict=True)},
        columns=list(columns),
    )


@dataclass(frozen=True)
class StoredUpload:
    """What a write did: the new upload's id, whether it replaced an earlier one, and how many rows."""

    upload_id: int
    replaced_upload_id: int | None
    n_stored: int
    n_replaced: int


class Store:
    """The database. Open with `Store.open(url)`; `engine` is the SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True) -> Store:
        """Connect (default: `default_url()`) and upgrade the schema to the latest Alembic revision
        (`migrate=False`: a worker process opening a database its parent has already migrated)."""
        url = url or default_url()
        # A failed statement's parameters are pupil rows: keep them out of exception text (and so of logs).
        engine = sa.create_engine(url, hide_parameters=True)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        if migrate and ((head := head_revision()) is None or store.schema_revision() != head):
            store.upgrade()
        return store

    def schema_revision(self) -> str | None:
        """The database's Alembic revision (None for an empty database): one small query."""
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return None
            return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to `revision` (migrations ship inside the package, so this works from a wheel)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def reading(self) -> sa.Connection:
        """A connection for reads that need no transaction of their own (each statement its own snapshot,
        as PostgreSQL's default isolation gives anyway): without one, a `connect()` block costs a BEGIN
        and a ROLLBACK round trip besides its queries, which per-request reads on busy pages feel."""
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def close(self) -> None:
        self.engine.dispose()

    # --- pupil terms ------------------------------------------------------------------------------------

    def read_pupil_terms(
        self,
        up_to: tuple[str, str] | None = None,
        schools: Sequence[str] | None = None,
        upns: Sequence[str] | None = None,
        on_roll: tuple[str, str] | None = None,
        min_ncyear: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Canonical pupil-terms (spec.upload columns and dtypes), every term up to and including `up_to`
        (academic_year, term) and never a later one; sorted by upn, then term.

        `on_roll` (academic_year, term) keeps only the pupils with a row in that term (in Year
        `min_ncyear` or above, when given), with their whole history: what scoring that term needs.
        `columns` reads only those canonical columns (the key columns always), in spec order.
        """
        pt = t.pupil_terms
        wanted = set(spec.COLUMNS if columns is None else (*spec.KEY_COLUMNS, *columns))
        columns = [c for c in spec.COLUMNS if c in wanted]
        query = sa.select(*(pt.c[c] for c in columns))
        if up_to is not None:
            query = query.where(pt.c.term_index <= spec.term_index(*up_to))
        if schools is not None:
            query = query.where(pt.c.school_urn.in_(list(schools)))
        if upns is not None:
            query = query.where(pt.c.upn.in_(list(upns)))
        if on_roll is not None:
            present = sa.select(pt.c.upn).where(pt.c.term_index == spec.term_index(*on_roll))
            if min_ncyear is not None:
                present = present.where(pt.c.ncyear >= min_ncyear)
            query = query.where(pt.c.upn.in_(present))
        query = query.order_by(pt.c.upn, pt.c.term_index, pt.c.school_urn)
        with self.engine.connect() as connection:
            return _read_typed(connection, query, columns, spec.canonical_dtypes())

    def read_school_term(
        self, school_urn: str, academic_year: str, term: str, columns: Sequence[str] = spec.COLUMNS
    ) -> pd.DataFrame:
        """One school's one stored term, only `columns` (canonical dtypes): what comparing an upload with
        the previous term needs, read by the (school, year, term) index rather than the school's history."""
        pt = t.pupil_terms
        query = sa.select(*(pt.c[c] for c in columns)).where(
            pt.c.school_urn == school_urn, pt.c.academic_year == academic_year, pt.c.term == term
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return _typed(rows, columns, spec.canonical_dtypes())

    def active_upload(self, kind: str, school_urn: str | None, academic_year: str | None, term: str | None):
        """The upload currently holding a school's term (a mapping of its columns), or None."""
        query = sa.select(t.uploads).where(_holds_term(kind, school_urn, academic_year, term))
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else row._mapping

    def find_upload(self, kind: str, sha256: str, mapping_sha256: str | None = None):
        """An earlier accepted upload of exactly these bytes (and mapping), or None."""
        u = t.uploads
        query = sa.select(u).where(
            u.c.kind == kind, u.c.sha256 == sha256, u.c.mapping_sha256 == mapping_sha256
        )
        with self.engine.connect() as connection:
            row = connection.execute(query.order_by(u.c.id.desc())).first()
        return None if row is None else row._mapping

    def write_pupil_terms(
        self,
        frame: pd.DataFrame,
        *,
        school_urn: str,
        academic_year: str,
        term: str,
        upload: dict[str, Any],
        also: Callable[[sa.Connection, int], None] | None = None,
        audit_attributes: pd.DataFrame | None = None,
    ) -> StoredUpload:
        """Store a validated term for one school in one transaction, replacing that school's earlier upload
        of the same term (which stays recorded, marked inactive).

        `upload` holds the uploads-table fields describing the file (filename, sha256, mapping,
        mapping_sha256, n_rows, n_warnings, uploaded_by). `also(connection, upload_id)` writes what belongs
        with the upload (identity, enrolment conflicts) in the same transaction. `audit_attributes` (upn,
        attribute, value): declared audit-only columns, stored in the same transaction
        (riskengine.evaluation.attributes).
        """
        now = datetime.now(UTC)
        u, pt = t.uploads, t.pupil_terms
        with self.engine.begin() as connection:
            _insert_ignoring_duplicates(connection, t.schools, [{"urn": school_urn, "first_upload_at": now}])
            previous = connection.execute(
                sa.select(u.c.id).where(_holds_term(PUPIL_TERMS_KIND, school_urn, academic_year, term))
            ).scalar()
            n_replaced = 0
            if previous is not None:
                connection.execute(sa.update(u).where(u.c.id == previous).values(active=False))
                n_replaced = connection.execute(
                    sa.delete(pt).where(
                        pt.c.school_urn == school_urn, pt.c.academic_year == academic_year, pt.c.term == term
                    )
                ).rowcount
            upload_id = connection.execute(
                sa.insert(u).values(
                    **upload,
                    kind=PUPIL_TERMS_KIND,
                    school_urn=school_urn,
                    academic_year=academic_year,
                    term=term,
                    n_stored=len(frame),
                    uploaded_at=now,
                    status="replaced" if previous is not None else "stored",
                    replaces_upload_id=previous,
                    active=True,
                )
            ).inserted_primary_key[0]
            extra = {"term_index": spec.term_index(academic_year, term), "upload_id": upload_id}
            _bulk_insert(connection, pt, frame.assign(**extra), (*spec.COLUMNS, *extra))
            _replace_audit_attributes(
                connection, audit_attributes, school_urn, academic_year, term, upload_id
            )
            new_pupils = sa.select(pt.c.upn, sa.literal(upload_id)).where(pt.c.upload_id == upload_id)
            connection.execute(
                _insert_ignoring(connection, t.pupils).from_select(["upn", "first_upload_id"], new_pupils)
            )
            _add_pupil_refs(connection, upload_id)
            if also is not None:
                also(connection, upload_id)
        return StoredUpload(upload_id, previous, len(frame), n_replaced)

    def read_audit_attributes(self, upns: Sequence[str] | None = None) -> pd.DataFrame:
        """Stored audit-only attributes, one row per pupil, term and attribute (text values)."""
        a = t.audit_attributes
        columns = ("upn", "school_urn", "academic_year", "term", "attribute", "value")
        query = sa.select(*(a.c[c] for c in columns))
        if upns is not None:
            query = query.where(a.c.upn.in_(list(upns)))
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return pd.DataFrame.from_records(rows, columns=list(columns)).astype("string")

    def list_uploads(self, school_urn: str | None = None) -> pd.DataFrame:
        """Every accepted upload (newest last), with its file's SHA-256, row counts, who and when."""
        u = t.uploads
        query = sa.select(u).order_by(u.c.id)
        if school_urn is not None:
            query = query.where(u.c.school_urn == school_urn)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return pd.DataFrame.from_records(rows, columns=[c.name for c in u.columns])

    # --- destinations -----------------------------------------------------------------------------------

    def write_destinations(self, frame: pd.DataFrame, *, upload: dict[str, Any]) -> StoredUpload:
        """Add validated destination rows in one transaction; rows already held (same upn, code, date)
        are kept as they are, so loading overlapping extracts never duplicates an activity."""
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            before = _count(connection, t.destinations)
            upload_id = connection.execute(
                sa.insert(t.uploads).values(
                    **upload,
                    kind=DESTINATIONS_KIND,
                    n_stored=0,
                    uploaded_at=now,
                    status="stored",
                    active=True,
                )
            ).inserted_primary_key[0]
            rows = _records(frame.assign(upload_id=upload_id), (*dest_spec.COLUMNS, "upload_id"))
            _insert_ignoring_duplicates(connection, t.destinations, rows)
            n_new = _count(connection, t.destinations) - before
            connection.execute(sa.update(t.uploads).where(t.uploads.c.id == upload_id).values(n_stored=n_new))
        return StoredUpload(upload_id, None, n_new, 0)

    def destinations_as_of(self) -> date | None:
        """The as-of date of the newest destinations extract loaded (an extract loaded before as-of dates
        were recorded counts as of the day it was loaded); None when none has been loaded."""
        u = t.uploads
        day = sa.func.coalesce(u.c.as_of, sa.func.date(u.c.uploaded_at))
        with self.engine.connect() as connection:
            latest = connection.execute(
                sa.select(sa.func.max(day)).where(u.c.kind == DESTINATIONS_KIND)
            ).scalar()
        return None if latest is None else pd.Timestamp(latest).date()

    def read_destinations(self) -> pd.DataFrame:
        """Every destination row (spec.destinations columns and dtypes), sorted by upn then date."""
        d = t.destinations
        query = sa.select(*(d.c[c] for c in dest_spec.COLUMNS)).order_by(d.c.upn, d.c.activity_date)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return _typed(rows, dest_spec.COLUMNS, dest_spec.canonical_dtypes())

    # --- scores -----------------------------------------------------------------------------------------

    def save_scores(self, run: dict[str, Any], scores: pd.DataFrame) -> int:
        """Store one scoring run and its rows in one transaction; returns the run id.

        `run` has academic_year, term, rule_set_version, feature_version, model_version, threshold and
        settings (JSON-able); list and dict columns of `scores` hold Python objects.
        """
        run_values = {k: run.get(k) for k in t.SCORE_RUN_COLUMNS if k != "n_pupils"}
        missing = [k for k in t.SCORE_COLUMNS if k not in scores.columns and not t.scores.c[k].nullable]
        if missing:
            raise ValueError(f"scores frame lacks required columns {missing}")
        frame = scores.reindex(columns=list(t.SCORE_COLUMNS))
        with self.engine.begin() as connection:
            run_id = connection.execute(
                sa.insert(t.score_runs).values(
                    **run_values, n_pupils=len(frame), created_at=datetime.now(UTC)
                )
            ).inserted_primary_key[0]
            # JSON columns serialised here as SQLAlchemy would (None as JSON null), so the rows go to the
            # driver directly (executemany of tuples, or COPY): per-row parameter processing was most of
            # the cost of saving a term's scores.
            as_json = {
                c.name: pd.Series(
                    [json.dumps(_json_value(v)) for v in frame[c.name].tolist()],
                    index=frame.index,
                    dtype=object,
                )
                for c in t.scores.columns
                if isinstance(c.type, sa.JSON)
            }
            _bulk_insert(
                connection, t.scores, frame.assign(run_id=run_id, **as_json), ("run_id", *t.SCORE_COLUMNS)
            )
        return int(run_id)

    def list_score_runs(self) -> pd.DataFrame:
        """Every scoring run (oldest first) with the versions that produced it."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(t.score_runs).order_by(t.score_runs.c.id)).all()
        return pd.DataFrame.from_records(rows, columns=[c.name for c in t.score_runs.columns])

    def read_scores(
        self, run_id: int | None = None, academic_year: str | None = None, term: str | None = None
    ) -> pd.DataFrame:
        """One run's scores (default: the latest run for that year/term), with a `run_id` column."""
        r, s = t.score_runs, t.scores
        with self.engine.connect() as connection:
            if run_id is None:
                latest = sa.select(sa.func.max(r.c.id))
                if academic_year is not None:
                    latest = latest.where(r.c.academic_year == academic_year)
                if term is not None:
                    latest = latest.where(r.c.term == term)
                run_id = connection.execute(latest).scalar()
            rows = (
                []
                if run_id is None
                else connection.execute(
                    sa.select(s).where(s.c.run_id == run_id).order_by(s.c.school_urn, s.c.upn)
                ).all()
            )
        frame = pd.DataFrame.from_records(rows, columns=[c.name for c in s.columns])
        return frame.astype(
            {
                "upn": "string",
                "school_urn": "string",
                "academic_year": "string",
                "term": "string",
                "ncyear": "Int64",
                "band": "string",
                "always_flag": "boolean",
                "probability": "Float64",
                "flag": "boolean",
                "flag_source": "string",
                "flag_reason": "string",
            }
        )

    def read_pupil_score(
        self,
        upn: str,
        run_id: int | None = None,
        academic_year: str | None = None,
        term: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """One pupil's stored score and its run, or None: from `run_id` if given, else from the latest term
        (of `academic_year`/`term` if given) in which the pupil was scored, its newest run.

        One query on the scores' upn index: never reads a whole run or table.
        """
        r, s = t.score_runs, t.scores
        term_order = sa.case({name: i for i, name in enumerate(spec.TERMS)}, value=r.c.term)
        query = (
            sa.select(s, *(c.label(f"run__{c.name}") for c in r.c))
            .join(r, r.c.id == s.c.run_id)
            .where(s.c.upn == upn)
            .order_by(r.c.academic_year.desc(), term_order.desc(), r.c.id.desc(), s.c.school_urn.desc())
            .limit(1)
        )
        if run_id is not None:
            query = query.where(r.c.id == run_id)
        if academic_year is not None:
            query = query.where(r.c.academic_year == academic_year)
        if term is not None:
            query = query.where(r.c.term == term)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        values = dict(row._mapping)
        run = {c.name: values.pop(f"run__{c.name}") for c in r.c}
        return values, run


def _json_value(value: Any) -> Any:
    """A JSON cell's value: a missing one (None, NaN or NA, as a reindexed column holds) is JSON null; a
    pupil's explanation record is the dict it stands for."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return plain(value)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL: readers never wait for a writer (an upload's transaction), and a writer waits up to 30 s for
    # another writer instead of failing at once with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MB: a 100,000-row term's index updates stay in memory
    cursor.close()


def _holds_term(
    kind: str, school_urn: str | None, academic_year: str | None, term: str | None
) -> sa.ColumnElement[bool]:
    """The uploads row holding a school's term: the one place that says which upload is current."""
    u = t.uploads
    return sa.and_(
        u.c.kind == kind,
        u.c.active.is_(True),
        u.c.school_urn == school_urn,
        u.c.academic_year == academic_year,
        u.c.term == term,
    )


def _add_pupil_refs(connection: sa.Connection, upload_id: int) -> None:
    """Give the upload's pupils that have none a random opaque ref (the web's URLs carry refs, not UPNs):
    made where pupils are written, so no page or caseload read ever needs to write one."""
    refs, pt = t.pupil_refs, t.pupil_terms
    missing = (
        sa.select(pt.c.upn)
        .distinct()
        .outerjoin(refs, refs.c.upn == pt.c.upn)
        .where(pt.c.upload_id == upload_id, refs.c.ref.is_(None))
    )
    rows = [{"upn": upn, "ref": secrets.token_hex(12)} for upn in connection.execute(missing).scalars()]
    if rows:
        connection.execute(_insert_ignoring(connection, refs), rows)


def _count(connection: sa.Connection, table: sa.Table) -> int:
    return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _insert_ignoring(connection: sa.Connection, table: sa.Table) -> sa.Insert:
    """INSERT ... ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


def _insert_ignoring_duplicates(connection: sa.Connection, table: sa.Table, rows: Iterable[dict]) -> None:
    """Insert rows, skipping those whose key is already held."""
    rows = list(rows)
    if rows:
        connection.execute(_insert_ignoring(connection, table), rows)
