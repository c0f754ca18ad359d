"""Generate and fully validate CDA documents; compare warm validation with compiling the schematrons per document.

    python bench/bench_cda.py [--count 1000] [--per-document-compile 2] [--cache DIR]

Prints per-document times (mean, p50, p95) for generation (PDF/A included) and for full validation
(XSD + every applicable ANS schematron), and the per-document cost of the ANS batch approach, where the
schematrons are compiled again for each document. Targets: validation <= 50 ms warm, N1 generation <= 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from app.domain.documents import DocumentKind, VersionChain
from app.domain.finess import with_key
from app.domain.identity import Ins, UsagerRecord
from app.domain.professionals import ProfessionalInput
from app.domain.structures import EssmsInput
from app.interop.cda.document import build_document
from app.interop.cda.header import Essms, Professional, oid_of
from app.interop.cda.validation import CdaValidator


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    mean, median = statistics.fmean(values) * 1000, statistics.median(values) * 1000
    return f"mean {mean:7.1f} ms  p50 {median:7.1f}  p95 {p95 * 1000:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--per-document-compile", type=int, default=2, help="documents for the batch approach")
    parser.add_argument("--cache", type=Path, default=None, help="compiled-schematron cache (default: a temp dir)")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="cda-cache-"))

    essms = Essms(
        uuid.uuid4(),
        EssmsInput(
            finess_et=with_key("69000001"), organisme_id=uuid.uuid4(), nom="EHPAD Les Tilleuls", categorie="500"
        ),
    )
    professional = Professional(
        uuid.uuid4(), ProfessionalInput(nom="MOREAU", prenom="Claire", profession="G15_10", rpps="99700000013")
    )
    usagers = [
        UsagerRecord(
            nom_naissance="D'ALMEIDA",
            premier_prenom="Marie-Ève",
            prenoms_naissance=["Marie-Ève", "Léa"],
            sexe="F",
            date_naissance="1938-05-02",
            lieu_naissance="75112",
            insi_verified=True,
            high_trust_proof=True,
            ins=Ins(matricule="238057511212345", oid="1.2.250.1.213.1.4.8"),
        ),
        UsagerRecord(nom_naissance="NGUYEN", premier_prenom="Van", sexe="M", date_naissance="1945-01-20"),
    ]

    started = time.perf_counter()
    validator = CdaValidator(cache)
    validator.warm()
    print(f"cold start (compile + load every schematron): {time.perf_counter() - started:.1f} s")

    generation: list[float] = []
    validation: list[float] = []
    documents: list[bytes] = []
    for index in range(args.count):
        document_id = uuid.uuid4()
        t0 = time.perf_counter()
        built = build_document(
            DocumentKind.N1_PDF,
            document_id=document_id,
            usager_id=uuid.uuid4(),
            usager=usagers[index % len(usagers)],
            essms=essms,
            professional=professional,
            created=datetime.now(UTC),
            chain=VersionChain.first(oid_of(document_id)),
            type_code="80788-3",
        )
        t1 = time.perf_counter()
        report = validator.validate(built.xml)
        t2 = time.perf_counter()
        if not report.valid:
            raise SystemExit(report.render("generated document"))
        generation.append(t1 - t0)
        validation.append(t2 - t1)
        if len(documents) < args.per_document_compile:
            documents.append(built.xml)

    batch: list[float] = []
    for xml in documents:
        t0 = time.perf_counter()
        fresh = CdaValidator(Path(tempfile.mkdtemp(prefix="cda-batch-")))
        fresh.validate(xml)
        batch.append(time.perf_counter() - t0)

    print(f"\nN1 + PDF/A, {args.count} documents")
    print(f"  generation (header + PDF/A + base64)     {_ms(generation)}   target <= 100 ms")
    print(f"  full validation, warm (XSD + 4 schematrons) {_ms(validation)}   target <= 50 ms")
    print(f"  compile per document (batch approach)     {_ms(batch)}   ({len(batch)} documents)")


if __name__ == "__main__":
    main()
