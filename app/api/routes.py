"""The resource routers of the REST API."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import schemas
from app.api.crud import resource_router
from app.api.plans import plan_router
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


def api_routers() -> list[APIRouter]:
    """One router per resource, included side by side in the app (each level of nesting costs a match per request)."""
    # Before the standard /plans routes, so that /plans/reviews-due is not read as a plan id.
    routers: list[APIRouter] = [plan_router()]
    for path, tag, name, service, body, public, filters in (
        (
            "/organismes",
            "structures",
            "Organisme",
            OrganismeService,
            OrganismeInput,
            schemas.Organisme,
            schemas.OrganismeFilters,
        ),
        ("/essms", "structures", "Essms", EssmsService, EssmsInput, schemas.Essms, schemas.EssmsFilters),
        ("/usagers", "usagers", "Usager", UsagerService, UsagerIdentityInput, schemas.Usager, schemas.UsagerFilters),
        ("/contacts", "entourage", "Contact", ContactService, ContactInput, schemas.Contact, schemas.ContactFilters),
        (
            "/protection-measures",
            "entourage",
            "ProtectionMeasure",
            ProtectionMeasureService,
            ProtectionMeasureInput,
            schemas.ProtectionMeasure,
            schemas.ProtectionMeasureFilters,
        ),
        ("/stays", "stays", "Stay", StayService, StayInput, schemas.Stay, schemas.StayFilters),
        (
            "/professionals",
            "professionals",
            "Professional",
            ProfessionalService,
            ProfessionalInput,
            schemas.Professional,
            schemas.ProfessionalFilters,
        ),
    ):
        routers.append(
            resource_router(
                path=path, tag=tag, name=name, service=service, create_model_=body, public=public, filters=filters
            )
        )
    routers.append(
        resource_router(
            path="/plans",
            tag="plans",
            name="Plan",
            service=PlanService,
            create_model_=PlanInput,
            public=schemas.Plan,
            filters=schemas.PlanFilters,
        )
    )
    routers.append(
        resource_router(
            path="/evaluations",
            tag="evaluations",
            name="Evaluation",
            service=EvaluationService,
            create_model_=EvaluationInput,
            public=schemas.Evaluation,
            filters=schemas.EvaluationFilters,
        )
    )
    # Transmissions are written once: no PATCH, PUT or DELETE (a correction is a new note).
    routers.append(
        resource_router(
            path="/transmissions",
            tag="transmissions",
            name="Transmission",
            service=TransmissionService,
            create_model_=TransmissionInput,
            public=schemas.Transmission,
            filters=schemas.TransmissionFilters,
            editable=False,
        )
    )
    return routers
