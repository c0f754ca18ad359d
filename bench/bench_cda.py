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
from app.domain.evaluations import EvaluationInput
from app.domain.finess import with_key
from app.domain.identity import Ins, UsagerRecord
from app.domain.plans import PlanRecord
from app.domain.professionals import ProfessionalInput
from app.domain.structures import EssmsInput
from app.interop.cda.document import build_document
from app.interop.cda.header import Essms, Professional, oid_of
from app.interop.cda.validation import CdaValidator
from app.interop.cda.volets.aggir import AggirSource
from app.interop.cda.volets.ppa import PlanSource


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    mean, median = statistics.fmean(values) * 1000, statistics.median(values) * 1000
    return f"mean {mean:7.1f} ms  p50 {median:7.1f}  p95 {p95 * 1000:7.1f}"


DOCTOR = {"nom": "MEDIONI", "prenom": "Stéphane", "rpps": "10001234565"}
TREATMENTS = [{"libelle": "Paracétamol 500 mg", "posologie": "1 cp 3 fois par jour"}]
DLU_DATA = {
    "medecin_traitant": DOCTOR,
    "etablissement_preference": {"nom": "Centre hospitalier de Villeurbanne"},
    "traitements": TREATMENTS,
    "directives_anticipees": False,
    "observations": [{"code": "288575003", "present": True}],
    "documents": ["DLU_006"],
}
FLUDT_DATA = {
    "medecin_traitant": DOCTOR,
    "motif_transfert": "Chute",
    "moment": "2026-11-30T15:35:00Z",
    "signes_vitaux": {"pouls": 80, "temperature": 37.2},
    "conscience": "DLU_002",
    "douleur": True,
    "traitements": TREATMENTS,
    "dernier_repas": "2026-11-30T12:00:00Z",
    "protheses": ["P0102"],
}

PLAN = {
    "titre": "Projet personnalisé d'accompagnement 2025",
    "date_debut": "2025-03-01",
    "status": "in_progress",
    "attentes": [{"origine": "usager", "description": "Pouvoir aller au jardin l'après-midi"}],
    "besoins": [
        {"code": "1.2.1.1", "description": "Aide pour la toilette du bas"},
        {"code": "1.2.1.3", "description": "Se déplace avec difficulté"},
    ],
    "objectifs": [
        {"ref": f"OBJ-{i}", "titre": f"Objectif {i}", "description": "Maintenir l'autonomie", "besoins": ["1.2.1.1"]}
        for i in range(4)
    ],
    "actions": [
        {
            "ref": f"ACT-{i}",
            "titre": f"Action {i}",
            "objectifs": ["OBJ-0"],
            "moyens": [{"titre": "Siège de douche"}],
            "prestations": [{"titre": "Accompagnement aux actes de la vie quotidienne", "codes": ["2.2.1"]}],
        }
        for i in range(6)
    ],
    "bilans": [{"date_bilan": "2025-03-01", "synthese": "Entrée récente"}],
    "accords": [
        {"partie": "usager", "signataire": "Marie-Ève D'ALMEIDA", "date_signature": "2025-02-20"},
        {"partie": "structure", "signataire": "Direction", "date_signature": "2025-02-21"},
    ],
}
AGGIR = {
    "date_evaluation": "2025-02-10",
    "auto_evaluation": True,
    "detail": {
        "grille": "aggir",
        "variables": {
            name: {"modalite": letter}
            for name, letter in zip(
                [
                    "coherence",
                    "orientation",
                    "toilette",
                    "habillage",
                    "alimentation",
                    "elimination",
                    "transferts",
                    "deplacement_interieur",
                    "deplacement_exterieur",
                    "alerter",
                    "gestion",
                    "cuisine",
                ],
                "BBBCABAACACB",
                strict=True,
            )
        },
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--per-document-compile", type=int, default=1, help="documents for the batch approach")
    parser.add_argument("--cache", type=Path, default=None, help="compiled-schematron cache (default: a temp dir)")
    parser.add_argument("--kinds", default="N1_PDF,DLU,FLUDT,PPA,AGGIR", help="kinds to run, comma-separated")
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

    documents: list[bytes] = []
    kinds = [
        (DocumentKind.N1_PDF, "80788-3", None, "N1 + PDF/A (PPA type)"),
        (DocumentKind.DLU, None, DLU_DATA, "DLU (N3) + PDF/A rendering"),
        (DocumentKind.FLUDT, None, FLUDT_DATA, "FLUDT (N3) + PDF/A rendering"),
        (DocumentKind.PPA, None, None, "PPA (N1 from a plan version) + PDF/A"),
        (DocumentKind.AGGIR, None, None, "AGGIR report (N1 from an evaluation) + PDF/A"),
    ]
    usager_id = uuid.uuid4()
    plan = PlanRecord.model_validate({**PLAN, "usager_id": usager_id, "stay_id": uuid.uuid4()})
    sources = {
        DocumentKind.PPA: PlanSource(plan, plan.date_debut, {}),
        DocumentKind.AGGIR: AggirSource(EvaluationInput.model_validate({**AGGIR, "usager_id": usager_id})),
    }
    wanted = set(args.kinds.split(","))
    for kind, type_code, data, label in kinds:
        if kind.value not in wanted:
            continue
        generation: list[float] = []
        validation: list[float] = []
        for index in range(args.count):
            document_id = uuid.uuid4()
            t0 = time.perf_counter()
            built = build_document(
                kind,
                document_id=document_id,
                usager_id=uuid.uuid4(),
                usager=usagers[index % len(usagers)],
                essms=essms,
                professional=professional,
                created=datetime.now(UTC),
                chain=VersionChain.first(oid_of(document_id)),
                type_code=type_code,
                data=data,
                source=sources.get(kind),
            )
            t1 = time.perf_counter()
            report = validator.validate(built.xml)
            t2 = time.perf_counter()
            if not report.valid:
                raise SystemExit(report.render("generated document"))
            generation.append(t1 - t0)
            validation.append(t2 - t1)
            if index == 0:
                documents.append(built.xml)
        print(f"\n{label}, {args.count} documents")
        print(f"  generation (PDF/A included)            {_ms(generation)}   target N1 <= 100 ms")
        print(f"  full validation, warm                  {_ms(validation)}   target <= 50 ms")

    batch: list[float] = []
    for xml in documents[: args.per_document_compile]:
        t0 = time.perf_counter()
        fresh = CdaValidator(Path(tempfile.mkdtemp(prefix="cda-batch-")))
        fresh.validate(xml)
        batch.append(time.perf_counter() - t0)
    if batch:
        print(f"\ncompile the schematrons per document (batch approach): {_ms(batch)}   ({len(batch)} documents)")


if __name__ == "__main__":
    main()
