"""Repositories: every SQL statement of the service. Each read can be scoped to the ESSMS a caller sees."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Date,
    DateTime,
    Select,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from app.domain.access import Scope
from app.domain.moments import as_utc
from app.store import tables
from app.store.bound import Bound, Condition, fetch_all, one_of


@dataclass(frozen=True)
class StoredRow:
    id: uuid.UUID
    version: int
    body: str
    archived: bool


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    operation: str
    actor: str
    recorded_at: datetime
    body: str


@dataclass(frozen=True)
class Keyset:
    """Position after which the next page starts: the sort value and the id of the last row."""

    sort_value: Any
    id: uuid.UUID


class InvalidKeyset(ValueError):
    """A page position that no row can have (a cursor not produced by the API)."""


def keyset_value(column: Any, value: Any) -> Any:
    """A cursor's sort value back in the column's type (cursors carry dates as ISO strings)."""
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if value is None or not isinstance(kind, (Date, DateTime, String)):
        return value
    if not isinstance(value, str):
        raise InvalidKeyset(f"{column.name}: {type(value).__name__}")
    try:
        if isinstance(kind, DateTime):
            return as_utc(datetime.fromisoformat(value))
        if isinstance(kind, Date):
            return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidKeyset(f"{column.name}: {error}") from error
    return value


class UniqueViolation(Exception):
    """A unique index refused the write; ``constraint`` names it (mapped to a domain rule by services)."""

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint


def constraint_name(error: IntegrityError) -> str:
    """The unique index an integrity error names, on both engines."""
    orig = error.orig
    name = getattr(orig, "constraint_name", None) or getattr(getattr(orig, "__cause__", None), "constraint_name", None)
    if name:
        return str(name)
    message = str(orig)
    # SQLite names the columns, not the index: "UNIQUE constraint failed: stay.usager_id, stay.essms_id".
    for index_name, marker in _SQLITE_UNIQUE_MARKERS.items():
        if marker in message:
            return index_name
    return message


_SQLITE_UNIQUE_MARKERS = {
    "uq_stay_open_per_essms": "stay.usager_id, stay.essms_id",
    "uq_cda_document_set_version": "cda_document.set_id, cda_document.version_number",
    "uq_contact_personne_de_confiance": "contact.usager_id",
    "uq_usager_ins_matricule": "usager.ins_matricule",
    "uq_professional_rpps": "professional.rpps",
    "uq_organisme_finess_ej": "organisme.finess_ej",
    "uq_essms_finess_et": "essms.finess_et",
    "uq_plan_in_force_per_stay": "plan.stay_id",
    "uq_plan_one_revision": "plan.previous_version_id",
}


@functools.cache
def _get_by_id(table: Table) -> Select[Any]:
    c = table.c
    return select(c.id, c.version, c.body, c.archived_at).where(c.id == bindparam("resource_id"))


@functools.cache
def _get_by_id_sql(table: Table, dialect: Dialect) -> str:
    return str(_get_by_id(table).compile(dialect=dialect))


async def _first_by_id(connection: AsyncConnection, table: Table, resource_id: uuid.UUID) -> Any:
    """The hottest read (one row by primary key). On asyncpg it runs on the driver connection with the
    statement compiled once: SQLAlchemy's execution layer costs more than the SELECT itself (see bench/)."""
    if connection.dialect.name == "postgresql":
        driver: Any = (await connection.get_raw_connection()).driver_connection
        record = await driver.fetchrow(_get_by_id_sql(table, connection.dialect), resource_id)
        return None if record is None else tuple(record)
    return (await connection.execute(_get_by_id(table), {"resource_id": resource_id})).first()


class ResourceRepository:
    """Versioned resources stored as served JSON plus query columns, with a history row per change."""

    resource_type: ClassVar[str]
    table: ClassVar[Table]
    sortable: ClassVar[dict[str, str]] = {}

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.c = self.table.c

    # -- scoping -------------------------------------------------------------------------------------
    def scope_clause(self, scope: Scope) -> ColumnElement[bool] | None:
        """The condition a row must meet to be visible in ``scope`` (``None``: visible to all)."""
        raise NotImplementedError

    def _visible(self, scope: Scope) -> list[ColumnElement[bool]]:
        if scope.unrestricted:
            return []
        clause = self.scope_clause(scope)
        return [] if clause is None else [clause]

    # -- reads ---------------------------------------------------------------------------------------
    async def get(self, resource_id: uuid.UUID, scope: Scope) -> StoredRow | None:
        if scope.unrestricted:
            row = await _first_by_id(self.connection, self.table, resource_id)
        else:
            statement = select(self.c.id, self.c.version, self.c.body, self.c.archived_at).where(
                self.c.id == resource_id, *self._visible(scope)
            )
            row = (await self.connection.execute(statement)).first()
        if row is None:
            return None
        row_id, version, body, archived_at = row
        return StoredRow(row_id, version, body, archived_at is not None)

    async def page(
        self,
        *,
        scope: Scope,
        where: Sequence[Condition],
        after: Keyset | None,
        limit: int,
        sort: str | None = None,
        include_archived: bool = False,
    ) -> list[tuple[StoredRow, Any]]:
        """One page in (sort column, id) order; keyset pagination keeps page 1000 as fast as page 1.

        When every condition is a `Bound` the statement is built and compiled once per shape (app/store/bound.py)."""
        conditions: list[Condition] = [*where]
        visible = None if scope.unrestricted else self.scope_bound(scope) or self.scope_clause(scope)
        if visible is not None:
            conditions.append(visible)
        if not include_archived:
            conditions.append(Bound(_not_archived(self.table)))
        sort_column = self.c[self.sortable[sort]] if sort else None
        if after is not None:
            if sort_column is None:
                conditions.append(Bound(_after_id(self.table), {"after_id": after.id}))
            else:
                value = keyset_value(sort_column, after.sort_value)
                conditions.append(Bound(_after_sorted(sort_column), {"after_sort": value, "after_id": after.id}))
        values: dict[str, Any] = {"page_limit": limit}
        for condition in conditions:
            if isinstance(condition, Bound):
                values.update(condition.values)
        clauses = tuple(c.template if isinstance(c, Bound) else c for c in conditions)
        if all(isinstance(c, Bound) for c in conditions):
            rows = await fetch_all(self.connection, _page_statement(self.table, sort_column, clauses), values)
        else:  # clauses carrying their own values are new objects each time: no use caching them
            statement = _build_page_statement(self.table, sort_column, clauses)
            rows = list((await self.connection.execute(statement, values)).all())
        return [
            (StoredRow(r[0], r[1], r[2], r[3] is not None), r[4] if sort_column is not None else None) for r in rows
        ]

    def scope_bound(self, scope: Scope) -> Bound | None:
        """`scope_clause` as a template and its values, for the repositories that have one (pages use it)."""
        return None

    async def history(self, resource_id: uuid.UUID) -> list[HistoryEntry]:
        h = tables.ResourceHistory.__table__.c  # type: ignore[attr-defined]
        statement = (
            select(h.version, h.operation, h.actor, h.recorded_at, h.body)
            .where(h.resource_type == self.resource_type, h.resource_id == resource_id)
            .order_by(h.version)
        )
        rows = (await self.connection.execute(statement)).all()
        return [HistoryEntry(r.version, r.operation, r.actor, r.recorded_at, r.body) for r in rows]

    # -- writes --------------------------------------------------------------------------------------
    async def insert(
        self, *, resource_id: uuid.UUID, body: str, columns: dict[str, Any], actor: str, now: datetime
    ) -> None:
        values = {
            "id": resource_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "archived_at": None,
            "body": body,
            **columns,
        }
        await self._guarded(insert(self.table).values(**values))
        await self._record(resource_id, 1, "create", actor, now, body)

    async def update(
        self,
        *,
        resource_id: uuid.UUID,
        expected_version: int,
        body: str,
        columns: dict[str, Any],
        actor: str,
        now: datetime,
        operation: str = "update",
        archived_at: datetime | None = None,
    ) -> bool:
        """Write the next version if the stored one is still ``expected_version`` (optimistic locking)."""
        statement = (
            update(self.table)
            .where(self.c.id == resource_id, self.c.version == expected_version)
            .values(version=expected_version + 1, updated_at=now, body=body, archived_at=archived_at, **columns)
        )
        result = await self._guarded(statement)
        if result.rowcount != 1:
            return False
        await self._record(resource_id, expected_version + 1, operation, actor, now, body)
        return True

    async def _guarded(self, statement: Any) -> Any:
        # No savepoint: a refused write fails the whole unit of work, which the caller rolls back.
        try:
            return await self.connection.execute(statement)
        except IntegrityError as error:
            raise UniqueViolation(constraint_name(error)) from error

    async def _record(
        self, resource_id: uuid.UUID, version: int, operation: str, actor: str, now: datetime, body: str
    ) -> None:
        await self.connection.execute(
            insert(tables.ResourceHistory.__table__).values(  # type: ignore[attr-defined]
                resource_type=self.resource_type,
                resource_id=resource_id,
                version=version,
                operation=operation,
                actor=actor,
                recorded_at=now,
                body=body,
            )
        )


def _t(model: type[Any]) -> Table:
    return model.__table__  # type: ignore[no-any-return]


ESSMS = _t(tables.Essms)
USAGER_ESSMS = _t(tables.UsagerEssms)
PROFESSIONAL_ESSMS = _t(tables.ProfessionalEssms)
TOKENS = _t(tables.UsagerSearchToken)


# In search_vector, a name key sits at position 1 with weight A and a first-name key at position 2 with
# weight B, so that a query can ask for one kind (tsvector weights only exist on positions). Every shorter
# prefix of a key is a lexeme too, at position 3 (names) or 4 (first names): a query term is then one exact
# lexeme, one posting list that GIN skips through beside the rarer term, where a prefix term ('mar':*)
# gathers the lists of every lexeme it starts into a bitmap (3 to 6 ms for a common first name at 100,000
# usagers). The positions tell keys from prefixes, for migrations.
_KIND_WEIGHT = {"n": "A", "p": "B"}
_KEY_POSITION = {"n": 1, "p": 2}
_PREFIX_POSITION = {"n": 3, "p": 4}


def search_vector(tokens: set[tuple[str, str]]) -> str:
    """The tsvector literal of a usager's (kind, token) name keys and of all their prefixes."""
    entries: dict[tuple[str, str], int] = {(token, kind): _KEY_POSITION[kind] for kind, token in tokens}
    for kind, token in tokens:
        for length in range(1, len(token)):
            entries.setdefault((token[:length], kind), _PREFIX_POSITION[kind])
    return " ".join(
        f"'{lexeme}':{position}{_KIND_WEIGHT[kind]}" for (lexeme, kind), position in sorted(entries.items())
    )


def _weights(kinds: tuple[str, ...]) -> str:
    # Every key carries A or B: asking for both is asking for none, and spares the heap recheck of weights.
    if set(kinds) >= set(_KIND_WEIGHT):
        return ""
    return ":" + "".join(_KIND_WEIGHT[kind] for kind in kinds)


@functools.cache
def _usager_in_essms(table: Table) -> ColumnElement[bool]:
    in_essms = bindparam("in_essms", type_=USAGER_ESSMS.c.essms_id.type)
    return table.c.id.in_(select(USAGER_ESSMS.c.usager_id).where(USAGER_ESSMS.c.essms_id == in_essms))


@functools.cache
def _vector_match(table: Table) -> ColumnElement[bool]:
    return table.c.search_vector.op("@@")(cast(bindparam("search_query"), TSQUERY))


@functools.lru_cache(maxsize=256)
def _token_ranges(kinds_of_terms: tuple[tuple[str, ...], ...]) -> ColumnElement[bool]:
    """One index range of usager_search_token per term, of the term's kinds (SQLite)."""
    usager_id = _t(tables.Usager).c.id
    return and_(
        *(
            usager_id.in_(
                select(TOKENS.c.usager_id).where(
                    TOKENS.c.token >= bindparam(f"token_{i}_from"),
                    TOKENS.c.token < bindparam(f"token_{i}_to"),
                    TOKENS.c.kind.in_(kinds),
                )
            )
            for i, kinds in enumerate(kinds_of_terms)
        )
    )


@functools.cache
def _not_archived(table: Table) -> ColumnElement[bool]:
    return table.c.archived_at.is_(None)


@functools.cache
def _after_id(table: Table) -> ColumnElement[bool]:
    return table.c.id > bindparam("after_id", type_=table.c.id.type)


@functools.cache
def _after_sorted(sort_column: Any) -> ColumnElement[bool]:
    table = sort_column.table
    return tuple_(sort_column, table.c.id) > tuple_(
        bindparam("after_sort", type_=sort_column.type), bindparam("after_id", type_=table.c.id.type)
    )


def _build_page_statement(table: Table, sort_column: Any, clauses: tuple[ColumnElement[bool], ...]) -> Select[Any]:
    columns: list[Any] = [table.c.id, table.c.version, table.c.body, table.c.archived_at]
    if sort_column is not None:
        columns.append(sort_column.label("sort_value"))
    order = [sort_column, table.c.id] if sort_column is not None else [table.c.id]
    return select(*columns).where(*clauses).order_by(*order).limit(bindparam("page_limit"))


_page_statement = functools.lru_cache(maxsize=1024)(_build_page_statement)


@functools.lru_cache(maxsize=64)
def _usager_visible_template(usager_id_column: Any, dialect: str) -> ColumnElement[bool]:
    return exists().where(
        USAGER_ESSMS.c.usager_id == usager_id_column,
        one_of(USAGER_ESSMS.c.essms_id, "scope_essms", dialect, USAGER_ESSMS.c.essms_id.type),
    )


def _usager_visible_bound(usager_id_column: Any, scope: Scope, dialect: str) -> Bound:
    assert scope.essms_ids is not None
    return Bound(_usager_visible_template(usager_id_column, dialect), {"scope_essms": list(scope.essms_ids)})


def _usager_visible(usager_id_column: Any, scope: Scope) -> ColumnElement[bool]:
    assert scope.essms_ids is not None
    return exists().where(USAGER_ESSMS.c.usager_id == usager_id_column, USAGER_ESSMS.c.essms_id.in_(scope.essms_ids))


class OrganismeRepository(ResourceRepository):
    resource_type = "organisme"
    table = _t(tables.Organisme)
    sortable = {"raison_sociale": "name_key"}

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        assert scope.essms_ids is not None
        return exists().where(ESSMS.c.organisme_id == self.c.id, ESSMS.c.id.in_(scope.essms_ids))


class EssmsRepository(ResourceRepository):
    resource_type = "essms"
    table = ESSMS
    sortable = {"nom": "name_key"}

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        assert scope.essms_ids is not None
        return self.c.id.in_(scope.essms_ids)


class UsagerRepository(ResourceRepository):
    resource_type = "usager"
    table = _t(tables.Usager)
    sortable = {"nom": "name_key"}

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return _usager_visible(self.c.id, scope)

    def scope_bound(self, scope: Scope) -> Bound:
        return _usager_visible_bound(self.c.id, scope, self.connection.dialect.name)

    def in_essms(self, essms_id: uuid.UUID) -> Bound:
        """Usagers linked to the ESSMS (any stay there, past or present)."""
        return Bound(_usager_in_essms(self.table), {"in_essms": essms_id})

    def tokens_match(self, terms: list[tuple[str, tuple[str, ...]]]) -> Bound:
        """Usagers having, for every (prefix, kinds) term, a name key of one of those kinds starting with it.

        PostgreSQL looks every prefix up as a lexeme of ``search_vector`` (which holds the prefixes of the keys)
        in one GIN scan; SQLite intersects index ranges of usager_search_token (no LIKE either way)."""
        if self.connection.dialect.name == "postgresql":
            query = " & ".join(f"'{prefix}'{_weights(kinds)}" for prefix, kinds in terms)
            return Bound(_vector_match(self.table), {"search_query": query})
        values: dict[str, Any] = {}
        for i, (prefix, _) in enumerate(terms):
            values[f"token_{i}_from"] = prefix
            values[f"token_{i}_to"] = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return Bound(_token_ranges(tuple(kinds for _, kinds in terms)), values)

    async def replace_tokens(self, usager_id: uuid.UUID, tokens: set[tuple[str, str]]) -> None:
        if self.connection.dialect.name == "postgresql":
            vector = cast(literal(search_vector(tokens)), TSVECTOR)
            await self.connection.execute(update(self.table).where(self.c.id == usager_id).values(search_vector=vector))
            return
        await self.connection.execute(delete(TOKENS).where(TOKENS.c.usager_id == usager_id))
        if tokens:
            await self.connection.execute(
                insert(TOKENS), [{"usager_id": usager_id, "kind": k, "token": t} for k, t in sorted(tokens)]
            )

    async def link_essms(self, usager_id: uuid.UUID, essms_id: uuid.UUID) -> None:
        known = await self.connection.scalar(
            select(func.count())
            .select_from(USAGER_ESSMS)
            .where(USAGER_ESSMS.c.usager_id == usager_id, USAGER_ESSMS.c.essms_id == essms_id)
        )
        if not known:
            await self.connection.execute(insert(USAGER_ESSMS).values(usager_id=usager_id, essms_id=essms_id))


class ContactRepository(ResourceRepository):
    resource_type = "contact"
    table = _t(tables.Contact)

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return _usager_visible(self.c.usager_id, scope)

    def scope_bound(self, scope: Scope) -> Bound:
        return _usager_visible_bound(self.c.usager_id, scope, self.connection.dialect.name)

    async def other_active_roles(self, usager_id: uuid.UUID, exclude: uuid.UUID | None) -> list[str]:
        """Bodies of the usager's other active contacts (for the single personne de confiance rule)."""
        statement = select(self.c.body).where(
            self.c.usager_id == usager_id,
            self.c.archived_at.is_(None),
            *([self.c.id != exclude] if exclude else []),
        )
        return [row.body for row in (await self.connection.execute(statement)).all()]

    async def owner(self, contact_id: uuid.UUID) -> uuid.UUID | None:
        return await self.connection.scalar(
            select(self.c.usager_id).where(self.c.id == contact_id, self.c.archived_at.is_(None))
        )


class ProtectionMeasureRepository(ResourceRepository):
    resource_type = "protection_measure"
    table = _t(tables.ProtectionMeasure)

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return _usager_visible(self.c.usager_id, scope)

    def scope_bound(self, scope: Scope) -> Bound:
        return _usager_visible_bound(self.c.usager_id, scope, self.connection.dialect.name)

    async def same_nature(self, usager_id: uuid.UUID, nature: str, exclude: uuid.UUID | None) -> list[str]:
        statement = select(self.c.body).where(
            self.c.usager_id == usager_id,
            self.c.nature == nature,
            self.c.archived_at.is_(None),
            *([self.c.id != exclude] if exclude else []),
        )
        return [row.body for row in (await self.connection.execute(statement)).all()]


class StayRepository(ResourceRepository):
    resource_type = "stay"
    table = _t(tables.Stay)
    sortable = {"date_entree": "date_entree"}

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        assert scope.essms_ids is not None
        return self.c.essms_id.in_(scope.essms_ids)

    async def count_open(self, usager_id: uuid.UUID, essms_id: uuid.UUID, exclude: uuid.UUID | None) -> int:
        statement = select(func.count()).where(
            self.c.usager_id == usager_id,
            self.c.essms_id == essms_id,
            self.c.is_open,
            self.c.archived_at.is_(None),
            *([self.c.id != exclude] if exclude else []),
        )
        return int(await self.connection.scalar(statement) or 0)

    def present_on(self, day: date) -> ColumnElement[bool]:
        return and_(self.c.date_entree <= day, or_(self.c.date_sortie.is_(None), self.c.date_sortie >= day))


class ProfessionalRepository(ResourceRepository):
    resource_type = "professional"
    table = _t(tables.Professional)
    sortable = {"nom": "name_key"}

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        assert scope.essms_ids is not None
        return exists().where(
            PROFESSIONAL_ESSMS.c.professional_id == self.c.id, PROFESSIONAL_ESSMS.c.essms_id.in_(scope.essms_ids)
        )

    def works_in(self, essms_id: uuid.UUID) -> ColumnElement[bool]:
        return self.c.id.in_(
            select(PROFESSIONAL_ESSMS.c.professional_id).where(PROFESSIONAL_ESSMS.c.essms_id == essms_id)
        )

    async def replace_assignments(self, professional_id: uuid.UUID, essms_ids: list[uuid.UUID]) -> None:
        await self.connection.execute(
            delete(PROFESSIONAL_ESSMS).where(PROFESSIONAL_ESSMS.c.professional_id == professional_id)
        )
        if essms_ids:
            await self.connection.execute(
                insert(PROFESSIONAL_ESSMS),
                [{"professional_id": professional_id, "essms_id": e} for e in essms_ids],
            )


class PlanRepository(ResourceRepository):
    resource_type = "plan"
    table = _t(tables.Plan)
    sortable = {"review_due": "review_due", "date_debut": "date_debut"}

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        assert scope.essms_ids is not None
        return self.c.essms_id.in_(scope.essms_ids)

    async def versions(self, lineage_id: uuid.UUID, scope: Scope) -> list[StoredRow]:
        """Every version of a plan, oldest first (archived drafts included)."""
        statement = (
            select(self.c.id, self.c.version, self.c.body, self.c.archived_at)
            .where(self.c.lineage_id == lineage_id, *self._visible(scope))
            .order_by(self.c.numero_version, self.c.id)
        )
        rows = (await self.connection.execute(statement)).all()
        return [StoredRow(r.id, r.version, r.body, r.archived_at is not None) for r in rows]

    async def in_force_for_stay(self, stay_id: uuid.UUID, exclude: uuid.UUID) -> list[uuid.UUID]:
        statement = select(self.c.id).where(
            self.c.stay_id == stay_id, self.c.in_force, self.c.archived_at.is_(None), self.c.id != exclude
        )
        return list((await self.connection.scalars(statement)).all())

    async def max_version(self, lineage_id: uuid.UUID) -> int:
        return int(
            await self.connection.scalar(select(func.max(self.c.numero_version)).where(self.c.lineage_id == lineage_id))
            or 0
        )

    def review_due_by(self, day: date) -> ColumnElement[bool]:
        return and_(self.c.in_force, self.c.review_due <= day)


class EvaluationRepository(ResourceRepository):
    resource_type = "evaluation"
    table = _t(tables.Evaluation)
    sortable = {"date_evaluation": "date_evaluation"}

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        return _usager_visible(self.c.usager_id, scope)

    def scope_bound(self, scope: Scope) -> Bound:
        return _usager_visible_bound(self.c.usager_id, scope, self.connection.dialect.name)

    async def latest_gir(self, usager_id: uuid.UUID) -> tuple[uuid.UUID, date, int] | None:
        """The latest AGGIR evaluation that counts for the usager's current GIR."""
        statement = (
            select(self.c.id, self.c.date_evaluation, self.c.gir)
            .where(self.c.usager_id == usager_id, self.c.counts_for_gir, self.c.archived_at.is_(None))
            .order_by(self.c.date_evaluation.desc(), self.c.id.desc())
            .limit(1)
        )
        row = (await self.connection.execute(statement)).first()
        return (row.id, row.date_evaluation, row.gir) if row else None


class TransmissionRepository(ResourceRepository):
    resource_type = "transmission"
    table = _t(tables.Transmission)
    sortable = {"date_heure": "date_heure"}

    def scope_clause(self, scope: Scope) -> ColumnElement[bool]:
        assert scope.essms_ids is not None
        return self.c.essms_id.in_(scope.essms_ids)

    async def owner(self, transmission_id: uuid.UUID) -> uuid.UUID | None:
        return await self.connection.scalar(select(self.c.usager_id).where(self.c.id == transmission_id))

    def not_corrected(self) -> ColumnElement[bool]:
        later = self.table.alias("later")
        return ~exists().where(later.c.corrige_id == self.c.id)

    def text_contains(self, words: list[str]) -> list[ColumnElement[bool]]:
        return [self.c.search_text.contains(word, autoescape=True) for word in words]
