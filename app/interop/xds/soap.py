"""SOAP 1.2 envelope with WS-Addressing and the MTOM/XOP multipart package (reference services.md §2.2)."""

from __future__ import annotations

import base64
import copy
import re
import uuid
from dataclasses import dataclass

from lxml import etree

from app.interop.xds.ebrim import XOP

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
ITI41_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ITI18_ACTION = "urn:ihe:iti:2007:RegistryStoredQuery"
ITI57_ACTION = "urn:ihe:iti:2010:UpdateDocumentSet"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
ROOT_ID = "root@dui"


class MtomError(ValueError):
    """A multipart/related package or SOAP envelope that cannot be read."""


def envelope(body: etree._Element, *, action: str, to: str, assertion: etree._Element | None = None) -> etree._Element:
    """A SOAP 1.2 envelope: wsa:Action and wsa:ReplyTo mustUnderstand, wsse:Security carrying the VIHF."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "wsa": WSA})
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    must = {f"{{{SOAP}}}mustUnderstand": "true"}
    etree.SubElement(header, f"{{{WSA}}}Action", must).text = action
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    reply = etree.SubElement(header, f"{{{WSA}}}ReplyTo", must)
    etree.SubElement(reply, f"{{{WSA}}}Address").text = ANONYMOUS
    etree.SubElement(header, f"{{{WSA}}}To", must).text = to
    if assertion is not None:
        security = etree.SubElement(header, f"{{{WSSE}}}Security", must, nsmap={"wsse": WSSE})
        security.append(copy.deepcopy(assertion))
    etree.SubElement(env, f"{{{SOAP}}}Body").append(body)
    return env


@dataclass(frozen=True)
class Package:
    """An MTOM message: its HTTP Content-Type and body."""

    content_type: str
    body: bytes


def mtom(env: etree._Element, attachments: dict[str, bytes], *, action: str) -> Package:
    """Serialise ``env`` (whose xop:Include refer to ``attachments`` by Content-ID) as multipart/related."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    root = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    parts = [
        (
            f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; "
            f'type="application/soap+xml"; action="{action}"\r\n'
            f"Content-Transfer-Encoding: binary\r\nContent-ID: <{ROOT_ID}>\r\n\r\n"
        ).encode()
        + root
    ]
    for cid, content in attachments.items():
        parts.append(
            (
                f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n\r\n"
            ).encode()
            + content
        )
    body = b"".join(parts) + f"\r\n--{boundary}--\r\n".encode()
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        f'start="<{ROOT_ID}>"; start-info="application/soap+xml"; action="{action}"'
    )
    return Package(content_type, body)


def _param(content_type: str, name: str) -> str | None:
    match = re.search(rf'{name}="?([^";]+)"?', content_type, re.IGNORECASE)
    return match.group(1) if match else None


def parse(content_type: str, body: bytes) -> tuple[etree._Element, dict[str, bytes]]:
    """The SOAP envelope of a plain SOAP 1.2 or MTOM message, with xop:Include replaced by base64 content."""
    env, parts, _ = parse_included(content_type, body)
    return env, parts


def parse_included(
    content_type: str, body: bytes, *, binary: frozenset[str] = frozenset()
) -> tuple[etree._Element, dict[str, bytes], dict[etree._Element, bytes]]:
    """As :func:`parse`, with the bytes each element holding an xop:Include now carries in base64: a reader
    takes them from there rather than decoding the base64 it was just given. Holders whose tag is in
    ``binary`` are left empty instead (their content is only in the mapping): for an element of type
    xs:base64Binary without facets, such as xdsb:Document, any content encoded in base64 is valid, as is the
    empty one, so a schema gives the same verdict without checking base64 that was produced here."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    if not content_type.lower().startswith("multipart/related"):
        try:
            return etree.fromstring(body, parser), {}, {}
        except etree.XMLSyntaxError as exc:
            raise MtomError(f"SOAP envelope is not well-formed XML: {exc}") from exc
    boundary = _param(content_type, "boundary")
    if not boundary:
        raise MtomError("multipart/related without boundary")
    start = (_param(content_type, "start") or "").strip("<>")
    parts: dict[str, bytes] = {}
    first: str | None = None
    delimiter = b"--" + boundary.encode()
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise MtomError("MIME part without header separator")
        headers = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(":") for line in head.decode("latin-1").split("\r\n"))
        )
        cid = headers.get("content-id", "").strip("<>")
        parts[cid] = content
        first = first or cid
    root_id = start or first
    if root_id is None or root_id not in parts:
        raise MtomError("no root part in the multipart/related package")
    try:
        env = etree.fromstring(parts.pop(root_id), parser)
    except etree.XMLSyntaxError as exc:
        raise MtomError(f"SOAP envelope is not well-formed XML: {exc}") from exc
    included: dict[etree._Element, bytes] = {}
    for include in list(env.iter(f"{{{XOP}}}Include")):
        cid = (include.get("href") or "").removeprefix("cid:")
        if cid not in parts:
            raise MtomError(f"xop:Include refers to a missing part {cid}")
        holder = include.getparent()
        assert holder is not None
        holder.remove(include)
        holder.text = None if holder.tag in binary else base64.b64encode(parts[cid]).decode()
        included[holder] = parts[cid]
    return env, parts, included


def body_child(env: etree._Element) -> etree._Element:
    """The payload of a SOAP envelope."""
    found = env.find(f"{{{SOAP}}}Body")
    if found is None or len(found) == 0:
        raise MtomError("SOAP envelope without Body payload")
    return found[0]


def header_value(env: etree._Element, tag: str) -> str | None:
    value: str | None = env.findtext(f"{{{SOAP}}}Header/{{{WSA}}}{tag}")
    return value
