"""The resource routers of the REST API."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import schemas
from app.api.crud import resource_router
from app.api.documents import documents_router
from app.domain.entourage import ContactInput, ProtectionMeasureInput
from app.domain.identity import UsagerIdentityInput
from app.domain.professionals import ProfessionalInput
from app.domain.stays import StayInput
from app.domain.structures import EssmsInput, OrganismeInput
from app.services.entourage import ContactService, ProtectionMeasureService
from app.services.professionals import ProfessionalService
from app.services.stays import StayService
from app.services.structures import EssmsService, OrganismeService
from app.services.usagers import UsagerService


def api_router() -> APIRouter:
    router = APIRouter()
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
        router.include_router(
            resource_router(
                path=path, tag=tag, name=name, service=service, create_model_=body, public=public, filters=filters
            )
        )
    router.include_router(documents_router())
    return router
