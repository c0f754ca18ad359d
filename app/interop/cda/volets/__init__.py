"""Volet registry: one small module per volet, each taking domain objects and producing a body and a rendering.

A volet declares its kind, its templateIds and document type, builds the ``component`` (body) of the CDA and the
human rendering (blocks for the PDF/HTML). Adding a volet (e.g. the PPA or the AGGIR report, both N1 + PDF) is
one module that subclasses :class:`Volet` (or :class:`n1.N1Volet`) and calls :func:`register`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from app.domain import codes
from app.domain.documents import DocumentKind
from app.domain.errors import RuleViolation
from app.interop.cda.header import DocumentHeader
from app.interop.cda.pdfa import Block


@dataclass(frozen=True)
class VoletInput:
    """What a volet reads besides the header: the record's data for its sections, an uploaded PDF."""

    header: DocumentHeader
    data: dict[str, Any] = field(default_factory=dict)
    pdf: bytes | None = None
    # The record a volet renders (a plan or evaluation view), read by the service; typed by the volet.
    source: Any = None


@dataclass(frozen=True)
class Built:
    """A volet's output: the CDA body and the PDF rendering (the one embedded for N1 documents)."""

    body: etree._Element
    pdf: bytes
    blocks: list[Block]


class Volet(ABC):
    kind: DocumentKind
    template_ids: tuple[tuple[str, str | None], ...]
    media_type = "text/xml"

    def type_code(self, requested: str | None) -> codes.Concept:
        """The document type (JDV_J07) for this volet."""
        raise NotImplementedError

    def service_event_code(self) -> codes.Concept | None:
        return None

    def encounter_code(self) -> codes.Concept | None:
        return None

    def informants(self, header: DocumentHeader, data: dict[str, Any]) -> tuple[etree._Element, ...]:
        return ()

    def participants(self, header: DocumentHeader, data: dict[str, Any]) -> tuple[etree._Element, ...]:
        return ()

    @abstractmethod
    def build(self, given: VoletInput) -> Built:
        """The body (``component``) and the PDF rendering."""

    @abstractmethod
    def blocks(self, given: VoletInput) -> list[Block]:
        """The human rendering, as headed blocks of lines."""


REGISTRY: dict[DocumentKind, Volet] = {}


def register(volet: Volet) -> Volet:
    REGISTRY[volet.kind] = volet
    return volet


def volet_for(kind: DocumentKind) -> Volet:
    from app.interop.cda.volets import aggir, dlu, fludt, n1, ppa  # noqa: F401  (modules register themselves)

    if kind not in REGISTRY:
        raise RuleViolation("kind-not-generated", f"Documents of kind {kind} are not generated here", field="kind")
    return REGISTRY[kind]
