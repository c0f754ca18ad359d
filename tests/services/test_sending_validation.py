"""A document leaves without a second validation only when these very bytes passed under the same rules."""

from __future__ import annotations

import uuid

import httpx
import pytest

from app.domain.access import SYSTEM
from app.interop.cda.validation import CdaValidator, ValidationReport
from app.services.documents import DocumentService
from app.store.db import Database
from tests.api import test_documents
from tests.api.test_documents import _generate

pytestmark = pytest.mark.usefixtures("backend")
edge = test_documents.edge


class Counting:
    """The real validator, counting validations; ``changed_rules`` stands for an update of the ANS rules."""

    def __init__(self, real: CdaValidator, *, changed_rules: bool = False) -> None:
        self.real, self.changed_rules, self.validations = real, changed_rules, 0

    def validate(self, xml: bytes) -> ValidationReport:
        self.validations += 1
        return self.real.validate(xml)

    def rules(self, xml: bytes) -> str:
        return "new rules" if self.changed_rules else self.real.rules(xml)


async def test_validation_is_trusted_only_for_the_same_bytes_and_rules(
    client: httpx.AsyncClient, edge: dict[str, str], clean_database: Database, cda_validator: CdaValidator
) -> None:
    document = uuid.UUID((await _generate(client, edge["E-1"])).json()["id"])
    same, updated = Counting(cda_validator), Counting(cda_validator, changed_rules=True)
    async with clean_database.read() as connection:
        sent = await DocumentService(connection, SYSTEM, same, "DUI").for_sending(document)  # type: ignore[arg-type]
        again = await DocumentService(connection, SYSTEM, updated, "DUI").for_sending(document)  # type: ignore[arg-type]
    assert sent == again and sent.startswith(b"<?xml")
    assert same.validations == 0  # validated at generation under these rules, bytes unchanged
    assert updated.validations == 1  # the rules changed since: validated again before it leaves
