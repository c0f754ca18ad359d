"""XDS metadata derived from the headers of the official examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.interop.cda.document import parse_cda
from app.interop.cda.xds import MetadataError, document_entry

EXAMPLES = "cda/TestContenuCDA-3-0/ExemplesCDA"


def test_dlu_metadata(shared_specs: Path) -> None:
    data = (shared_specs / EXAMPLES / "DLU-EHPAD-DLU_2022.01.xml").read_bytes()
    entry = document_entry(data)
    assert entry.type_code.code == "74207-2"
    assert (entry.class_code.code, entry.class_code.scheme) == ("11", "1.2.250.1.213.1.1.4.1")
    assert entry.format_code.code == "urn:asip:ci-sis:dlu:2015"
    assert entry.healthcare_facility_type_code.code == "SA17"
    assert entry.practice_setting_code.code == "ETABLISSEMENT"
    assert entry.confidentiality_code.code == "N"
    assert entry.creation_time == "20200327143500"  # 15:35 +0100 in UTC
    assert entry.patient_id == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert entry.size == len(data) and len(entry.hash) == 40


def test_an_already_parsed_document_gives_the_same_entry(shared_specs: Path) -> None:
    data = (shared_specs / EXAMPLES / "DLU-EHPAD-DLU_2022.01.xml").read_bytes()
    assert document_entry(data, parse_cda(data)) == document_entry(data)
    other = (shared_specs / EXAMPLES / "DLU-EHPAD-FLUDT_2022.01.xml").read_bytes()
    # The metadata come from the tree, the hash and size from the bytes.
    mixed = document_entry(data, parse_cda(other))
    assert mixed.hash == document_entry(data).hash and mixed.title == document_entry(other).title


def test_n1_format_from_media_type(shared_specs: Path) -> None:
    data = (shared_specs / EXAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml").read_bytes()
    with pytest.raises(MetadataError) as error:
        document_entry(data)  # 11502-2 (biology report) is not an ESSMS type: no class known here
    assert error.value.metadata == "classCode"
    entry = document_entry(data.replace(b'code="11502-2"', b'code="34842-5"'))
    assert entry.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert entry.healthcare_facility_type_code.code == "SA07"


def test_masking_code_is_not_a_cda_confidentiality(shared_specs: Path) -> None:
    data = (shared_specs / EXAMPLES / "DLU-EHPAD-DLU_2022.01.xml").read_bytes()
    with pytest.raises(MetadataError, match="J58"):
        document_entry(data.replace(b'<confidentialityCode code="N"', b'<confidentialityCode code="L"', 1))
