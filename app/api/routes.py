"""The resource routers of the REST API."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import schemas
from app.api.crud import resource_router
from app.domain.access import Permission as P
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

# (read permission, write permission, usager data?)
STRUCTURES = (P.STRUCTURE_READ, P.STRUCTURE_WRITE, False)
USAGERS = (P.USAGER_READ, P.USAGER_WRITE, True)
PROFESSIONALS = (P.PROFESSIONAL_READ, P.PROFESSIONAL_WRITE, False)


def api_router() -> APIRouter:
    router = APIRouter()
    for path, tag, name, service, body, public, filters, permissions in (
        (
            "/organismes",
            "structures",
            "Organisme",
            OrganismeService,
            OrganismeInput,
            schemas.Organisme,
            schemas.OrganismeFilters,
            STRUCTURES,
        ),
        ("/essms", "structures", "Essms", EssmsService, EssmsInput, schemas.Essms, schemas.EssmsFilters, STRUCTURES),
        (
            "/usagers",
            "usagers",
            "Usager",
            UsagerService,
            UsagerIdentityInput,
            schemas.Usager,
            schemas.UsagerFilters,
            USAGERS,
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
        ),
        ("/stays", "stays", "Stay", StayService, StayInput, schemas.Stay, schemas.StayFilters, USAGERS),
        (
            "/professionals",
            "professionals",
            "Professional",
            ProfessionalService,
            ProfessionalInput,
            schemas.Professional,
            schemas.ProfessionalFilters,
            PROFESSIONALS,
        ),
    ):
        router.include_router(
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
            )
        )
    return router
