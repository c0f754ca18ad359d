"""`dui dmp feed`: the documents of every usager of a structure are generated, validated and queued once;
an interrupted run resumes without duplicates; not eligible and invalid ones are reported with the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from lxml import etree
from sqlalchemy import text

from app.interop.cda.validation import CdaValidator, Finding, ValidationReport
from app.interop.cda.volets.aggir import TYPE_AGGIR_REPORT
from app.services.dmp_feed import DmpBatchFeeder, UnknownStructure
from app.services.fixtures import load
from app.store.db import Database

pytestmark = pytest.mark.usefixtures("backend")
DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo.json"
EHPAD = "690045711"  # es-1 of the demo: an EHPAD of 40 usagers, 4 of them with a qualified identity
ORGANISME_OF_ES7_ES8 = "og-3"


def _subset() -> dict[str, Any]:
    """The demo's structures and professionals, with the usagers of es-1, es-7, es-8 and their records."""
    demo = orjson.loads(DEMO.read_bytes())
    usagers = [u for u in demo["usagers"] if u["essms"] in ("es-1", "es-7", "es-8")]
    keys = {u["key"] for u in usagers}
    subset = {name: demo[name] for name in ("organismes", "essms", "professionals")}
    subset["usagers"] = usagers
    for name in ("stays", "plans", "evaluations"):
        subset[name] = [r for r in demo[name] if r["usager"] in keys]
    return subset


@pytest.fixture
async def structures(clean_database: Database) -> dict[str, Any]:
    subset = _subset()
    async with clean_database.write() as connection:
        await load(connection, subset)
    return subset


def _feeder(database: Database, validator: Any) -> DmpBatchFeeder:
    return DmpBatchFeeder(database, validator, software="dui-test", feed_types=None, concurrency=2)


async def _count(database: Database, sql: str) -> int:
    async with database.read() as connection:
        return int((await connection.execute(text(sql))).scalar_one())


class Crash(Exception):
    """The process dies in the middle of a document."""


class Interrupting:
    """A validator that crashes the run once ``after`` documents were validated."""

    def __init__(self, real: CdaValidator, after: int) -> None:
        self.real, self.left = real, after

    def validate(self, xml: bytes) -> ValidationReport:
        if self.left == 0:
            raise Crash
        self.left -= 1
        return self.real.validate(xml)

    def rules(self, xml: bytes) -> str:
        return self.real.rules(xml)


class RefusingAggir:
    """A validator that finds an error in every AGGIR report (document type BIL_AUTO)."""

    def __init__(self, real: CdaValidator) -> None:
        self.real = real

    def validate(self, xml: bytes) -> ValidationReport:
        report = self.real.validate(xml)
        if etree.fromstring(xml).find("{urn:hl7-org:v3}code").get("code") == TYPE_AGGIR_REPORT:
            report.findings.append(Finding("test", "error", "test-rule", "/ClinicalDocument", "refused for the test"))
        return report

    def rules(self, xml: bytes) -> str:
        return self.real.rules(xml)


async def test_feed_generates_queues_once_and_reports(
    clean_database: Database, structures: dict[str, Any], cda_validator: CdaValidator
) -> None:
    report = await _feeder(clean_database, cda_validator).feed(EHPAD)
    assert report.scope == f"essms {EHPAD}" and report.essms == 1 and report.usagers_seen == 40
    # The four qualified usagers each get their plan in force and their latest AGGIR report (when they have them).
    made = report.generated["PPA"] + report.generated["AGGIR"]
    assert report.generated["PPA"] >= 2 and report.generated["AGGIR"] >= 2, report.lines()
    assert report.queued == made and not report.invalid
    assert report.not_eligible["identity-not-qualified"] == 36
    assert report.not_eligible["dlu-not-entered"] == 4  # an EHPAD usager has a DLU, entered by the staff
    assert await _count(clean_database, "SELECT count(*) FROM cda_document") == made
    assert await _count(clean_database, "SELECT count(*) FROM dmp_outbox WHERE status = 'queued'") == made

    again = await _feeder(clean_database, cda_validator).feed(EHPAD)
    assert sum(again.generated.values()) == 0 and again.queued == 0
    assert again.already == report.generated
    assert await _count(clean_database, "SELECT count(*) FROM cda_document") == made

    # --since after every change: nothing is even looked at again.
    later = await _feeder(clean_database, cda_validator).feed(EHPAD, since=datetime.now(UTC) + timedelta(days=1))
    assert sum(later.generated.values()) == 0 and sum(later.already.values()) == 0


async def test_an_interrupted_feed_resumes_without_duplicates(
    clean_database: Database, structures: dict[str, Any], cda_validator: CdaValidator
) -> None:
    with pytest.raises(ExceptionGroup) as crashed:
        await _feeder(clean_database, Interrupting(cda_validator, after=2)).feed(EHPAD)
    assert crashed.group_contains(Crash)
    first = await _count(clean_database, "SELECT count(*) FROM cda_document")
    # Each document is committed with its key; one still in flight when the run crashed is rolled back.
    assert 1 <= first <= 2
    assert await _count(clean_database, "SELECT count(*) FROM dmp_feed_source") == first
    resumed = await _feeder(clean_database, cda_validator).feed(EHPAD)
    assert sum(resumed.already.values()) - resumed.already["DLU"] == first
    total = await _count(clean_database, "SELECT count(*) FROM cda_document")
    assert total == first + sum(resumed.generated.values())
    assert await _count(clean_database, "SELECT count(DISTINCT document_id) FROM dmp_feed_source") == total
    assert await _count(clean_database, "SELECT count(*) FROM dmp_outbox") == total


async def test_invalid_documents_are_reported_with_the_validator_message(
    clean_database: Database, structures: dict[str, Any], cda_validator: CdaValidator
) -> None:
    report = await _feeder(clean_database, RefusingAggir(cda_validator)).feed(EHPAD)
    assert report.generated["AGGIR"] == 0 and report.generated["PPA"] >= 2
    assert report.invalid and {i.kind for i in report.invalid} == {"AGGIR"}
    assert all("test:test-rule" in i.message and "refused for the test" in i.message for i in report.invalid)
    assert any("refused for the test" in line for line in report.lines())


async def test_an_organisme_finess_feeds_all_its_essms_and_an_unknown_one_is_refused(
    clean_database: Database, structures: dict[str, Any], cda_validator: CdaValidator
) -> None:
    finess_ej = next(o["finess_ej"] for o in structures["organismes"] if o["key"] == ORGANISME_OF_ES7_ES8)
    report = await _feeder(clean_database, cda_validator).feed(finess_ej)
    assert report.scope == f"organisme {finess_ej}" and report.essms == 2 and report.usagers_seen == 25 + 12
    with pytest.raises(UnknownStructure):
        await _feeder(clean_database, cda_validator).feed("999999999")
