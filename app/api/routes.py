"""The resource routers of the REST API."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import schemas
from app.api.crud import resource_router
from app.api.dmp import dmp_router
from app.api.dmp_updates import dmp_updates_router
from app.api.documents import documents_router
from app.api.plans import plan_router
from app.domain.access import Permission as P
from app.domain.entourage import ContactInput, ProtectionMeasureInput
from app.domain.evaluations import EvaluationInput
from app.domain.identity import UsagerIdentityInput
from app.domain.plans import PlanInput
from app.domain.professionals import ProfessionalInput
from app.domain.stays import StayInput
from app.domain.structures import EssmsInput, OrganismeInput
from app.domain.transmissions import TransmissionInput
from app.services.entourage import ContactService, ProtectionMeasureService
from app.services.evaluations import EvaluationService
from app.services.plans import PlanService
from app.services.professionals import ProfessionalService
from app.services.stays import StayService
from app.services.structures import EssmsService, OrganismeService
from app.services.transmissions import TransmissionService
from app.services.usagers import UsagerService

# (read permission, write permission, usager data?)
STRUCTURES = (P.STRUCTURE_READ, P.STRUCTURE_WRITE, False)
USAGERS = (P.USAGER_READ, P.USAGER_WRITE, True)
PROFESSIONALS = (P.PROFESSIONAL_READ, P.PROFESSIONAL_WRITE, False)
PLANS = (P.USAGER_READ, P.PLAN_WRITE, True)


def api_routers() -> list[APIRouter]:
    """One router per resource, each included in the app (the app's gate dependency applies to every route)."""
    # Before the standard /plans routes, so that /plans/reviews-due is not read as a plan id.
    routers: list[APIRouter] = [plan_router()]
    for path, tag, name, service, body, public, filters, permissions, editable in (
        (
            "/organismes",
            "structures",
            "Organisme",
            OrganismeService,
            OrganismeInput,
            schemas.Organisme,
            schemas.OrganismeFilters,
            STRUCTURES,
            True,
        ),
        (
            "/essms",
            "structures",
            "Essms",
            EssmsService,
            EssmsInput,
            schemas.Essms,
            schemas.EssmsFilters,
            STRUCTURES,
            True,
        ),
        (
            "/usagers",
            "usagers",
            "Usager",
            UsagerService,
            UsagerIdentityInput,
            schemas.Usager,
            schemas.UsagerFilters,
            USAGERS,
            True,
        ),
        (
            "/contacts",
            "entourage",
            "Contact",
            ContactService,
            ContactInput,
            schemas.Contact,
            schemas.ContactFilters,
            USAGERS,
            True,
        ),
        (
            "/protection-measures",
            "entourage",
            "ProtectionMeasure",
            ProtectionMeasureService,
            ProtectionMeasureInput,
            schemas.ProtectionMeasure,
            schemas.ProtectionMeasureFilters,
            USAGERS,
            True,
        ),
        ("/stays", "stays", "Stay", StayService, StayInput, schemas.Stay, schemas.StayFilters, USAGERS, True),
        (
            "/professionals",
            "professionals",
            "Professional",
            ProfessionalService,
            ProfessionalInput,
            schemas.Professional,
            schemas.ProfessionalFilters,
            PROFESSIONALS,
            True,
        ),
        ("/plans", "plans", "Plan", PlanService, PlanInput, schemas.Plan, schemas.PlanFilters, PLANS, True),
        (
            "/evaluations",
            "evaluations",
            "Evaluation",
            EvaluationService,
            EvaluationInput,
            schemas.Evaluation,
            schemas.EvaluationFilters,
            USAGERS,
            True,
        ),
        # Transmissions are written once: no PATCH, PUT or DELETE (a correction is a new note).
        (
            "/transmissions",
            "transmissions",
            "Transmission",
            TransmissionService,
            TransmissionInput,
            schemas.Transmission,
            schemas.TransmissionFilters,
            USAGERS,
            False,
        ),
    ):
        routers.append(
            resource_router(
                path=path,
                tag=tag,
                name=name,
                service=service,
                create_model_=body,
                public=public,
                filters=filters,
                read_permission=permissions[0],
                write_permission=permissions[1],
                usager_data=permissions[2],
                editable=editable,
            )
        )
    routers.append(documents_router())
    routers.append(dmp_router())
    routers.append(dmp_updates_router())
    return routers
