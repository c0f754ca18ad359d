"""The AGGIR evaluation report as an N1 document: variables, modalities, the GIR, evaluator and date (PDF/A).

Type: BIL_AUTO (TRE_A05, "CR de bilan d'évaluation de la perte d'autonomie"), a member of JDV_J07 and of the DMP
list JDV_J66. No LOINC code names the AGGIR grid itself; BIL_AUTO is the report of an evaluation of the loss of
autonomy, which the AGGIR grid is, whereas 34842-5 ("Grille d'évaluation médico-sociale") is any grid.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain import aggir, codes
from app.domain.documents import DocumentKind
from app.domain.errors import RuleViolation
from app.domain.evaluations import AggirDetail, AggirResult, EvaluationInput
from app.domain.professionals import ProfessionalInput
from app.interop.cda.pdfa import Block
from app.interop.cda.volets import VoletInput, register
from app.interop.cda.volets.n1 import N1Volet

TYPE_AGGIR_REPORT = "BIL_AUTO"


@dataclass(frozen=True)
class AggirSource:
    """The AGGIR evaluation reported and the professionals it names."""

    evaluation: EvaluationInput
    evaluateur: ProfessionalInput | None = None
    responsable: ProfessionalInput | None = None


def check_aggir(evaluation: EvaluationInput) -> AggirResult:
    """The evaluation's computed result; only an AGGIR evaluation has an AGGIR report."""
    if not isinstance(evaluation.detail, AggirDetail):
        raise RuleViolation(
            "evaluation-aggir",
            f"Evaluation grid '{evaluation.detail.grille}' is not AGGIR: no AGGIR report",
            field="evaluation_id",
        )
    return evaluation.detail.result()


class AggirReportVolet(N1Volet):
    kind = DocumentKind.AGGIR
    fixed_type = TYPE_AGGIR_REPORT

    def content(self, given: VoletInput) -> list[Block]:
        source = given.source
        if not isinstance(source, AggirSource):
            raise RuleViolation(
                "evaluation-required", "An AGGIR report is made from an evaluation", field="evaluation_id"
            )
        evaluation = source.evaluation
        result = check_aggir(evaluation)
        detail = evaluation.detail
        assert isinstance(detail, AggirDetail)
        gir = codes.gir_code(result.gir)

        def who(professional: ProfessionalInput | None) -> str:
            return f"{professional.prenom} {professional.nom}" if professional else "-"

        kind = codes.evaluation_types().get(detail.type_evaluation)
        summary = [
            f"Grille : AGGIR {detail.variante}" + (f" ({kind.display})" if kind else ""),
            f"Date de l'évaluation : {evaluation.date_evaluation:%d/%m/%Y}",
            f"Évaluateur : {who(source.evaluateur)}" + (" (auto-évaluation)" if evaluation.auto_evaluation else ""),
            f"Responsable : {who(source.responsable)}",
            f"Statut : {evaluation.statut.value}",
            *([f"Modalité : {evaluation.modalite}"] if evaluation.modalite else []),
            f"Résultat : GIR {result.gir} ({gir.code})",
        ]
        known = aggir.variables()
        discriminant: list[str] = []
        illustrative: list[str] = []
        for name, variable in known.items():
            letter = result.modalites.get(name)
            if letter is None:
                continue
            line = f"{variable.label} : {letter}"
            subs = result.sous_modalites.get(name)
            if subs:
                line += " (" + ", ".join(f"{sub} {value}" for sub, value in subs.items()) + ")"
            (discriminant if variable.discriminant else illustrative).append(line)
        blocks = [
            Block("Évaluation AGGIR", summary),
            Block("Variables discriminantes", discriminant),
            Block("Variables illustratives", illustrative),
        ]
        if evaluation.commentaire:
            blocks.append(Block("Commentaire", [evaluation.commentaire]))
        if result.regle_alimentation_ac:
            blocks.append(Block("Règle appliquée", [f"Alimentation AC/CA : {result.regle_alimentation_ac}"]))
        return blocks


register(AggirReportVolet())
