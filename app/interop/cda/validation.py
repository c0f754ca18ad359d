"""CDA validation: the ANS XSD (lxml) then the ANS schematrons (compiled by us, run by saxonche).

Which schematrons apply: the header (structuration minimale), IHE, the CI-SIS content models and the ANS models
for every document, plus the volet's own schematron chosen by the volet templateId. Compiled stylesheets are
cached on disk under ``<data_dir>/cda-cache`` keyed by a hash of their inputs, and kept in memory once loaded.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlparse
from urllib.request import url2pathname

from lxml import etree

from app.interop.cda.document import template_ids
from app.interop.cda.schematron import PRELOAD_HREF, XML_BASE, XSL, compile_schematron, source_digest

SPECS_ROOT = Path(__file__).resolve().parents[2] / "data" / "cda" / "TestContenuCDA-3-0"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
CDA_NS = {"c": "urn:hl7-org:v3"}
XSL_PARAM = f"{{{XSL}}}param"

PROFILES: tuple[str, ...] = (
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "profils/IHE.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
)
# Volet templateId -> the volet's own schematron. N1 documents (XDS-SD) have none.
VOLETS: dict[str, str] = {
    "1.2.250.1.213.1.1.1.22": "CI-SIS_DLU-EHPAD-DLU_2022.01.sch",
    "1.2.250.1.213.1.1.1.23": "CI-SIS_DLU-EHPAD-FLUDT_2022.01.sch",
    "1.2.250.1.213.1.1.1.24": "CI-SIS_DLU-EHPAD-FLUDR_2022.01.sch",
}
_QNAME = re.compile(r"Q\{urn:hl7-org:v3\}")
_QOTHER = re.compile(r"Q\{[^}]*\}")


@dataclass(frozen=True)
class Finding:
    """One message of a validator: where it comes from, how serious, which assertion, where, what it says."""

    source: str
    severity: str
    assertion: str
    location: str
    message: str


@dataclass
class ValidationReport:
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    # The fingerprint of the rules applied (see CdaValidator.rules); empty when the document was not XML.
    rules: str = ""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def valid(self) -> bool:
        return not self.errors

    def render(self, name: str = "document") -> str:
        """A readable report: one line per message with assertion, location and message."""
        verdict = "VALID" if self.valid else f"INVALID ({len(self.errors)} error(s))"
        lines = [f"{name}: {verdict} - checked {', '.join(self.checked)}"]
        for f in self.findings:
            lines.append(f"  [{f.severity}] {f.source} :: {f.assertion}\n    at {f.location}\n    {f.message}")
        return "\n".join(lines)


class CdaValidationError(Exception):
    """A generated document failed validation; it must not leave the system."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(
            f"{len(report.errors)} validation error(s): " + "; ".join(e.message for e in report.errors[:3])
        )
        self.report = report


def _short_path(path: str) -> str:
    return _QOTHER.sub("", _QNAME.sub("", path))


class CdaValidator:
    """Holds the XSD and the compiled schematrons of one process. Thread-safe (one lock around Saxon)."""

    def __init__(self, cache_dir: Path, specs_root: Path = SPECS_ROOT) -> None:
        from saxonche import PySaxonProcessor

        self.specs_root = specs_root
        self.cache_dir = cache_dir
        self._lock = threading.RLock()
        self._processor = PySaxonProcessor(license=False)
        self._xslt = self._processor.new_xslt30_processor()
        self._executables: dict[str, object] = {}
        self._digests: dict[str, str] = {}
        self._documents: dict[str, object] = {}
        self._schema = etree.XMLSchema(etree.parse(str(specs_root / "infrastructure" / "cda" / "CDA_extended.xsd")))

    def compiled_path(self, relative: str) -> Path:
        """The cached XSLT of one schematron, compiled now when missing or when an input changed."""
        source = self.specs_root / "schematrons" / relative
        digest = source_digest(source)
        target = self.cache_dir / f"{source.stem}-{digest[:16]}.xsl"
        if not target.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            # Several processes may compile the same schematron at once: each writes its own file, and the
            # atomic rename makes the last one the cached copy (they are identical).
            partial = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            partial.write_bytes(compile_schematron(source))
            partial.replace(target)
        return target

    def executable(self, relative: str) -> object:
        with self._lock:
            if relative not in self._executables:
                path = self.compiled_path(relative)
                executable = self._xslt.compile_stylesheet(stylesheet_file=str(path))
                for name, document in self._preloaded(path):
                    executable.set_parameter(name, document)
                self._executables[relative] = executable
            return self._executables[relative]

    def _preloaded(self, stylesheet: Path) -> list[tuple[str, object]]:
        """The value-set files the compiled stylesheet takes as parameters, each parsed once per process (a
        missing file is left to the parameter's default, which fails as the stylesheet would without it)."""
        found: list[tuple[str, object]] = []
        root = etree.parse(str(stylesheet), etree.XMLParser(huge_tree=True)).getroot()
        base = root.get(XML_BASE) or stylesheet.parent.as_uri() + "/"
        for parameter in root.iterchildren(XSL_PARAM):
            href = parameter.get(PRELOAD_HREF)
            target = Path(url2pathname(urlparse(urljoin(base, href)).path)).resolve() if href else None
            if target is None or not target.is_file():
                continue
            key = str(target)
            if key not in self._documents:
                self._documents[key] = self._processor.parse_xml(xml_file_name=key)
            found.append((parameter.get("name", ""), self._documents[key]))
        return found

    def warm(self, schematrons: tuple[str, ...] | None = None) -> None:
        """Compile and load every schematron now (the service does it at start-up)."""
        for relative in schematrons or (*PROFILES, *VOLETS.values()):
            self.executable(relative)

    def rules(self, document: bytes) -> str:
        """A fingerprint of the rules that apply to this document (XSD and schematron sources, compiler): a
        document validated under the same fingerprint needs no new validation of the same bytes."""
        return self._rules(etree.ElementTree(etree.fromstring(document, etree.XMLParser(resolve_entities=False))))

    def _rules(self, tree: etree._ElementTree) -> str:
        digest = hashlib.sha256(self._digest("XSD", self.specs_root / "infrastructure" / "cda").encode())
        for relative in self.schematrons_for(tree):
            digest.update(self._digest(relative, self.specs_root / "schematrons" / relative).encode())
        return digest.hexdigest()

    def _digest(self, key: str, path: Path) -> str:
        known = self._digests.get(key)  # computed once; read without the lock, which a validation may hold
        if known is not None:
            return known
        with self._lock:
            if key not in self._digests:
                if path.is_dir():
                    files = hashlib.sha256()
                    for xsd in sorted(path.rglob("*.xsd")):
                        files.update(xsd.read_bytes())
                    self._digests[key] = files.hexdigest()
                else:
                    self._digests[key] = source_digest(path)
            return self._digests[key]

    def schematrons_for(self, tree: etree._ElementTree) -> list[str]:
        found = template_ids(tree.getroot())
        return [*PROFILES, *(VOLETS[t] for t in found if t in VOLETS)]

    def validate(self, document: bytes) -> ValidationReport:
        """XSD first (the schematrons assume a schema-valid instance), then every applicable schematron."""
        report = ValidationReport()
        try:
            tree = etree.ElementTree(etree.fromstring(document, etree.XMLParser(resolve_entities=False)))
        except etree.XMLSyntaxError as error:
            report.findings.append(Finding("xml", "error", "well-formed", f"line {error.lineno}", str(error)))
            return report
        report.rules = self._rules(tree)
        report.checked.append("XSD")
        if not self._schema.validate(tree):
            for entry in self._schema.error_log:
                report.findings.append(Finding("xsd", "error", "CDA_extended.xsd", f"line {entry.line}", entry.message))
        if tree.getroot().tag != "{urn:hl7-org:v3}ClinicalDocument":
            return report
        with self._lock:
            node = self._processor.parse_xml(xml_text=document.decode("utf-8"))
            for relative in self.schematrons_for(tree):
                executable = self.executable(relative)
                svrl = executable.transform_to_string(xdm_node=node)  # type: ignore[attr-defined]
                report.checked.append(Path(relative).stem)
                report.findings.extend(self._findings(Path(relative).stem, svrl))
        return report

    @staticmethod
    def _findings(source: str, svrl: str) -> list[Finding]:
        found: list[Finding] = []
        root = etree.fromstring(svrl.encode("utf-8"))
        for item in root.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report"):
            role = (item.get("role") or "error").lower()
            severity = role if role in ("warning", "info") else "error"
            text = item.find(f"{SVRL}text")
            message = " ".join("".join(text.itertext()).split()) if text is not None else ""
            assertion = item.get("id") or item.get("test", "")
            found.append(Finding(source, severity, assertion, _short_path(item.get("location", "")), message))
        return found

    def require_valid(self, document: bytes) -> ValidationReport:
        """Validate and raise :class:`CdaValidationError` on any error."""
        report = self.validate(document)
        if not report.valid:
            raise CdaValidationError(report)
        return report
