"""Scoping happens in the repositories: a caller limited to some ESSMS never reads the others' records."""

from __future__ import annotations

import uuid

import pytest

from app.api.schemas import UsagerFilters
from app.domain.access import SYSTEM, Principal, Scope
from app.domain.identity import UsagerRecord
from app.domain.stays import StayInput
from app.domain.structures import EssmsInput, OrganismeInput
from app.services.stays import StayService
from app.services.structures import EssmsService, OrganismeService
from app.services.usagers import UsagerService
from app.store.db import Database
from tests.factories import finess

pytestmark = pytest.mark.usefixtures("backend")


async def _essms(database: Database, organisme_id: uuid.UUID, name: str) -> uuid.UUID:
    async with database.write() as connection:
        row = await EssmsService(connection, SYSTEM).create(
            EssmsInput(finess_et=finess(), organisme_id=organisme_id, nom=name, categorie="500", types_activite=["11"])
        )
    return row.id


async def test_repositories_filter_by_scope(clean_database: Database) -> None:
    database = clean_database
    async with database.write() as connection:
        organisme = await OrganismeService(connection, SYSTEM).create(
            OrganismeInput(finess_ej=finess(), raison_sociale="Association")
        )
    home = await _essms(database, organisme.id, "EHPAD A")
    other = await _essms(database, organisme.id, "EHPAD B")
    async with database.write() as connection:
        usagers = UsagerService(connection, SYSTEM)
        mine = await usagers.create(
            UsagerRecord(
                nom_naissance="MARTIN", premier_prenom="Jeanne", sexe="F", date_naissance="1940-03-12", essms_id=home
            )
        )
        theirs = await usagers.create(
            UsagerRecord(
                nom_naissance="MARTIN", premier_prenom="Jeanne", sexe="F", date_naissance="1940-03-12", essms_id=other
            )
        )
        await StayService(connection, SYSTEM).create(
            StayInput(usager_id=theirs.id, essms_id=other, date_entree="2024-01-01")
        )

    scoped = Principal(actor="pro-a", scope=Scope.of(home))
    async with database.read() as connection:
        usagers = UsagerService(connection, scoped)
        page = await usagers.list_page(where=usagers.conditions(UsagerFilters(q="martin")), after=None, limit=10)
        assert [row.id for row in page.rows] == [mine.id]
        assert await usagers.repo.get(theirs.id, scoped.scope) is None
        stays = StayService(connection, scoped)
        assert (await stays.list_page(where=[], after=None, limit=10)).rows == []
        essms = EssmsService(connection, scoped)
        assert [row.id for row in (await essms.list_page(where=[], after=None, limit=10)).rows] == [home]
        everything = UsagerService(connection, SYSTEM)
        assert len((await everything.list_page(where=[], after=None, limit=10)).rows) == 2


async def test_a_search_page_is_built_once_per_shape_and_scoped_by_its_values(clean_database: Database) -> None:
    """Trait searches differing only by their values share one statement; the scope's ESSMS are values too."""
    from app.store.repository import _page_statement

    database = clean_database
    async with database.write() as connection:
        organisme = await OrganismeService(connection, SYSTEM).create(
            OrganismeInput(finess_ej=finess(), raison_sociale="Association")
        )
    homes = [await _essms(database, organisme.id, f"EHPAD {n}") for n in "CDE"]
    async with database.write() as connection:
        usagers = UsagerService(connection, SYSTEM)
        people = {
            (name, home): (
                await usagers.create(
                    UsagerRecord(
                        nom_naissance=name, premier_prenom="Paule", sexe="F", date_naissance="1941-05-02", essms_id=home
                    )
                )
            ).id
            for name in ("DUVAL", "DUVERNOIS")
            for home in homes
        }

    async def search(scope: Scope, **filters: str) -> list[uuid.UUID]:
        async with database.read() as connection:
            usagers = UsagerService(connection, Principal(actor="pro", scope=scope))
            where = usagers.conditions(UsagerFilters(**filters))
            return [row.id for row in (await usagers.list_page(where=where, after=None, limit=10)).rows]

    await search(Scope.of(homes[0]), q="duval paule")
    built = _page_statement.cache_info().currsize
    assert set(await search(Scope.of(homes[1]), q="duv paule")) == {
        people["DUVAL", homes[1]],
        people["DUVERNOIS", homes[1]],
    }
    assert await search(Scope.of(homes[0], homes[2]), q="duvern") == sorted(
        [people["DUVERNOIS", homes[0]], people["DUVERNOIS", homes[2]]]
    )
    assert await search(Scope.of(homes[2]), q="duval", date_naissance="1941-05-03") == []
    assert _page_statement.cache_info().currsize == built + 1  # only the birth-date filter made a new shape
