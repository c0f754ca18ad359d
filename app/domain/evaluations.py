"""Evaluations of a usager (TDDUI Evaluation / DetailEvaluation): one model, one detail per grid.

A grid is a ``detail`` variant chosen by ``grille``: ``aggir`` (the GIR is computed, never typed),
``serafin`` (SERAFIN-PH needs assessment) and ``libre`` (any other grid of JDV_TypeEvaluation, or none).
A new grid is one more variant with its ``result()``; the record, storage and API stay as they are.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, model_validator

from app.domain import aggir, codes, tunables
from app.domain.aggir import AlimentationMixedRule
from app.domain.errors import DomainError, FieldIssue
from app.domain.types import DomainModel, LongText, PastDate, ShortText, coded, violation

Modality = Literal["A", "B", "C"]


class EvaluationStatus(StrEnum):
    """TRE_R368 statuses allowed for an Evaluation (JDV_J281)."""

    ENPREPARATION = "ENPREPARATION"
    APPROUVE = "APPROUVE"
    VALIDE = "VALIDE"
    TERMINE = "TERMINE"


class Adverbs(DomainModel):
    """The four adverbs of the 2008 guide: does the person do it spontaneously, totally, correctly, usually?"""

    spontanement: bool
    totalement: bool
    correctement: bool
    habituellement: bool

    def modality(self) -> str:
        return aggir.adverbs_to_modality(
            spontanement=self.spontanement,
            totalement=self.totalement,
            correctement=self.correctement,
            habituellement=self.habituellement,
        )


class _Scored(DomainModel):
    modalite: Modality | None = None
    adverbes: Adverbs | None = None

    def modality(self) -> str:
        if self.adverbes is not None:
            return self.adverbes.modality()
        assert self.modalite is not None
        return self.modalite


class Answer(_Scored):
    """A sub-variable answered by its modality or by its four adverbs."""

    @model_validator(mode="after")
    def _one_form(self) -> Answer:
        if (self.modalite is None) == (self.adverbes is None):
            raise violation("aggir-answer-one-form", "Give either modalite or adverbes")
        return self


class VariableAnswer(_Scored):
    """A variable: its modality, its adverbs, or its sub-variables (cohérence = communication + comportement…)."""

    sous_variables: dict[str, Answer] | None = Field(None, max_length=5)

    @model_validator(mode="after")
    def _one_form(self) -> VariableAnswer:
        given = sum(x is not None for x in (self.modalite, self.adverbes, self.sous_variables))
        if given != 1:
            raise violation("aggir-answer-one-form", "Give one of modalite, adverbes or sous_variables")
        return self


class AggirResult(DomainModel):
    gir: int = Field(ge=1, le=6)
    gir_code: str = Field(description="JDV_GIR_CISIS code (MED-339 GIR-1 … MED-344 GIR-6)")
    modalites: dict[str, Modality] = Field(description="Modality of every answered variable")
    sous_modalites: dict[str, dict[str, Modality]] = Field(description="Modality of every answered sub-variable")
    regle_alimentation_ac: AlimentationMixedRule = Field(description="Setting used for alimentation AC/CA")


class AggirDetail(DomainModel):
    """An AGGIR grid: the 10 discriminant variables (required) and the 7 illustrative ones (optional)."""

    grille: Literal["aggir"]
    variante: Literal["PA", "PH"] = Field("PA", description="AGGIR PA (MED-1293) or PH (MED-1292) questionnaire")
    variables: dict[str, VariableAnswer] = Field(max_length=40)

    @property
    def type_evaluation(self) -> str:
        return "MED-1293" if self.variante == "PA" else "MED-1292"

    def result(self) -> AggirResult:
        """Modalities of the variables, then the GIR (CASF annexe 2-2); every bad variable is reported."""
        known = aggir.variables()
        rule = AlimentationMixedRule(tunables.aggir_alimentation_mixed)
        issues: list[FieldIssue] = []
        letters: dict[str, str] = {}
        subs: dict[str, dict[str, str]] = {}
        at = "detail.variables"
        for name, answer in self.variables.items():
            variable = known.get(name)
            if variable is None:
                issues.append(FieldIssue(f"{at}.{name}", "aggir-variable-unknown", f"{name} is not an AGGIR variable"))
                continue
            if answer.sous_variables is None:
                letters[name] = answer.modality()
                continue
            expected = variable.sub_variables
            for sub in answer.sous_variables:
                if sub not in expected:
                    issues.append(
                        FieldIssue(
                            f"{at}.{name}.sous_variables.{sub}",
                            "aggir-subvariable-unknown",
                            f"{name} has the sub-variables {', '.join(expected) or 'none'}",
                        )
                    )
            missing = [sub for sub in expected if sub not in answer.sous_variables]
            for sub in missing:
                issues.append(
                    FieldIssue(f"{at}.{name}.sous_variables.{sub}", "aggir-subvariable-missing", f"No answer for {sub}")
                )
            if missing or not expected or len(answer.sous_variables) != len(expected):
                continue
            subs[name] = {sub: answer.sous_variables[sub].modality() for sub in expected}
            letters[name] = aggir.combine(name, tuple(subs[name].values()), rule)
        for name in aggir.discriminant_variables():
            if name not in self.variables:
                issues.append(
                    FieldIssue(f"{at}.{name}", "aggir-variable-missing", f"The discriminant variable {name} is missing")
                )
        if issues:
            raise DomainError("The AGGIR grid is incomplete or invalid", issues=issues)
        value = aggir.gir({name: letters[name] for name in aggir.discriminant_variables()})
        return AggirResult.model_validate(
            {
                "gir": value,
                "gir_code": codes.gir_code(value).code,
                "modalites": letters,
                "sous_modalites": subs,
                "regle_alimentation_ac": rule,
            }
        )


class SerafinNeed(DomainModel):
    besoin: Annotated[str, coded(codes.serafin_besoins)] = Field(description="SERAFIN-PH need code (1.x, JDV_J285)")
    valeur: int | None = Field(None, ge=0, le=10, description="Intensity, as the grid in use scores it")
    commentaire: LongText | None = None


class SerafinDetail(DomainModel):
    """A SERAFIN-PH needs assessment (MED-1291): the needs found, with an intensity."""

    grille: Literal["serafin"]
    besoins: list[SerafinNeed] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _unique(self) -> SerafinDetail:
        found = [n.besoin for n in self.besoins]
        if len(set(found)) != len(found):
            raise violation("serafin-need-unique", "A need is assessed twice")
        return self

    @property
    def type_evaluation(self) -> str:
        return "MED-1291"

    def result(self) -> dict[str, Any]:
        return {"besoins": sorted(n.besoin for n in self.besoins)}


class FreeItem(DomainModel):
    libelle: ShortText
    valeur: LongText


class FreeDetail(DomainModel):
    """Any other evaluation: a JDV_TypeEvaluation code when one applies (PATHOS, CIM-10…), items, a synthesis."""

    grille: Literal["libre"]
    type_evaluation_code: Annotated[str, coded(codes.evaluation_types)] | None = None
    titre: ShortText
    items: list[FreeItem] = Field(default_factory=list, max_length=200)
    synthese: LongText | None = None

    @property
    def type_evaluation(self) -> str | None:
        return self.type_evaluation_code

    def result(self) -> dict[str, Any]:
        return {}


EvaluationDetail = Annotated[AggirDetail | SerafinDetail | FreeDetail, Field(discriminator="grille")]


class EvaluationInput(DomainModel):
    """An evaluation of a usager, by a professional (or a self-evaluation), on one grid."""

    usager_id: UUID
    stay_id: UUID | None = Field(None, description="Stay during which the evaluation was made")
    date_evaluation: PastDate
    statut: EvaluationStatus = EvaluationStatus.VALIDE
    evaluateur_id: UUID | None = Field(None, description="Professional who evaluated")
    responsable_id: UUID | None = Field(None, description="Professional responsible for the evaluation")
    auto_evaluation: bool = False
    modalite: ShortText | None = Field(None, description="How it was done (entretien, observation…)")
    commentaire: LongText | None = None
    detail: EvaluationDetail

    @model_validator(mode="after")
    def _someone(self) -> EvaluationInput:
        # TDDUI: except for a self-evaluation, at least one professional role is filled.
        if not self.auto_evaluation and self.evaluateur_id is None and self.responsable_id is None:
            raise violation("evaluation-evaluator-required", "Give evaluateur_id or responsable_id")
        return self

    def result(self) -> dict[str, Any]:
        """The computed result (for AGGIR: the GIR and the modalities); raises DomainError on a bad grid."""
        detail = self.detail
        if isinstance(detail, AggirDetail):
            return detail.result().model_dump(mode="json")
        return detail.result()

    @property
    def counts_for_current_gir(self) -> bool:
        return isinstance(self.detail, AggirDetail) and self.statut is not EvaluationStatus.ENPREPARATION


class CurrentGir(DomainModel):
    """The usager's GIR by their latest AGGIR evaluation."""

    gir: int
    evaluation_id: UUID
    date_evaluation: date
