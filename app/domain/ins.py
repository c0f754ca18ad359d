"""INS values, INSi traits and the RNIV rules applied to an INSi answer. Pure: no I/O."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from app.domain import text
from app.domain.errors import InvalidValue

OID_NIR = "1.2.250.1.213.1.4.8"
OID_NIA = "1.2.250.1.213.1.4.9"
OID_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_NIR_DEMO = "1.2.250.1.213.1.4.11"
INS_OIDS = {
    OID_NIR: "INS-NIR",
    OID_NIA: "INS-NIA",
    OID_NIR_TEST: "INS-NIR de test",
    OID_NIR_DEMO: "INS-NIR de démonstration",
}

# 13 characters, the 7th may be the Corsican department letter (2A/2B), then the 2-digit key.
_NUMBER = re.compile(r"^\d{6}[0-9AB]\d{6}$")
_MATRICULE = re.compile(r"^(\d{6}[0-9AB]\d{6})(\d{2})$")


def ins_key(number: str) -> str:
    """Key of a 13-character NIR/NIA: 97 - (N mod 97), with 2A read as 19 and 2B as 18."""
    number = number.upper()
    if not _NUMBER.match(number):
        raise InvalidValue("ins-format", "An INS number has 13 characters (2A/2B allowed for Corsica)")
    digits = number[:5] + number[5:7].replace("2A", "19").replace("2B", "18") + number[7:]
    return f"{97 - int(digits) % 97:02d}"


def check_matricule(matricule: str) -> str:
    """Check what staff typed: 15 characters whose last two are the key (ins-format, ins-key)."""
    value = matricule.strip().replace(" ", "").upper()
    match = _MATRICULE.match(value)
    if match is None:
        raise InvalidValue("ins-format", "An INS matricule has 13 characters and a 2-digit key")
    if ins_key(match.group(1)) != match.group(2):
        raise InvalidValue("ins-key", "The INS key (last two digits) does not match the number")
    return value


def check_oid(oid: str) -> str:
    if oid not in INS_OIDS:
        raise InvalidValue("ins-oid", f"Unknown INS OID; expected one of {', '.join(INS_OIDS)}")
    return oid


def well_formed_matricule(matricule: str) -> bool:
    """Shape only: an INS returned by INSi is kept even when its key is off (a CNDA test identity has one)."""
    return _MATRICULE.match(matricule) is not None


class Sexe(StrEnum):
    F = "F"
    M = "M"


@dataclass(frozen=True)
class InsiTraits:
    """What a search by traits sends: birth name, ONE first name per call, sex, birth date, birth place."""

    nom_naissance: str
    prenom: str
    sexe: str
    date_naissance: date
    lieu_naissance: str | None = None


@dataclass(frozen=True)
class InsNumber:
    """A matricule as INSi returns it (number and key apart) with its OID and validity dates."""

    numero: str
    cle: str
    oid: str
    date_debut: date | None = None
    date_fin: date | None = None

    @property
    def matricule(self) -> str:
        return self.numero + self.cle


@dataclass(frozen=True)
class InsiIdentity:
    """The identity INSi returns (INSACTIF + INSHISTO + TIQ). Dates stay strings: INSi may send day "00"."""

    ins: InsNumber
    history: tuple[InsNumber, ...]
    nom_naissance: str
    prenoms: tuple[str, ...]
    sexe: str
    date_naissance: str
    lieu_naissance: str | None


class InsiRefusal(StrEnum):
    """Why an INSi answer may not be used (RNIV rules 11-12)."""

    DAY_OR_MONTH_00 = "insi-date-00"
    EMPTY_NAME = "insi-empty-name"
    EMPTY_FIRST_NAMES = "insi-empty-first-names"
    EMPTY_SEX = "insi-empty-sex"
    BAD_DATE = "insi-bad-date"
    BAD_MATRICULE = "insi-bad-matricule"
    UNKNOWN_OID = "insi-unknown-oid"


def refusals(identity: InsiIdentity) -> list[InsiRefusal]:
    """RNIV rules 11 and 12: an answer with day or month "00", or an empty name, first names or sex, is refused.

    The key is not checked (an INS returned by INSi is authoritative); its shape and OID are.
    """
    found: list[InsiRefusal] = []
    parts = identity.date_naissance.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        found.append(InsiRefusal.BAD_DATE)
    elif parts[1] == "00" or parts[2] == "00":
        found.append(InsiRefusal.DAY_OR_MONTH_00)
    else:
        try:
            date.fromisoformat(identity.date_naissance)
        except ValueError:
            found.append(InsiRefusal.BAD_DATE)
    if not identity.nom_naissance.strip():
        found.append(InsiRefusal.EMPTY_NAME)
    if not [p for p in identity.prenoms if p.strip()]:
        found.append(InsiRefusal.EMPTY_FIRST_NAMES)
    if not identity.sexe.strip():
        found.append(InsiRefusal.EMPTY_SEX)
    if not well_formed_matricule(identity.ins.matricule):
        found.append(InsiRefusal.BAD_MATRICULE)
    if identity.ins.oid not in INS_OIDS:
        found.append(InsiRefusal.UNKNOWN_OID)
    return found


@dataclass(frozen=True)
class StoredTraits:
    """The INS traits of a stored identity, as compared with an INSi answer."""

    nom_naissance: str
    prenoms: tuple[str, ...]
    sexe: str
    date_naissance: date
    lieu_naissance: str | None
    matricule: str | None
    oid: str | None


@dataclass(frozen=True)
class Difference:
    field: str
    stored: str | None
    insi: str | None


@dataclass
class Comparison:
    differences: list[Difference] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def _same_name(a: str, b: str) -> bool:
    return text.tokens(a) == text.tokens(b)


def compare(stored: StoredTraits, answer: InsiIdentity) -> Comparison:
    """Verification (RNIV rules 48-49): the stored INS and traits against INSi's answer, field by field."""
    result = Comparison()

    def differ(name: str, left: str | None, right: str | None) -> None:
        result.differences.append(Difference(name, left, right))

    if stored.matricule != answer.ins.matricule:
        differ("ins.matricule", stored.matricule, answer.ins.matricule)
    if stored.oid != answer.ins.oid:
        differ("ins.oid", stored.oid, answer.ins.oid)
    if not _same_name(stored.nom_naissance, answer.nom_naissance):
        differ("nom_naissance", stored.nom_naissance, answer.nom_naissance)
    if not _same_name(" ".join(stored.prenoms), " ".join(answer.prenoms)):
        differ("prenoms_naissance", " ".join(stored.prenoms), " ".join(answer.prenoms))
    if stored.sexe != answer.sexe:
        differ("sexe", stored.sexe, answer.sexe)
    if stored.date_naissance.isoformat() != answer.date_naissance:
        differ("date_naissance", stored.date_naissance.isoformat(), answer.date_naissance)
    if (stored.lieu_naissance or None) != (answer.lieu_naissance or None):
        differ("lieu_naissance", stored.lieu_naissance, answer.lieu_naissance)
    return result


def search_plan(nom: str, prenoms: list[str], sexe: str, born: date, lieu: str | None) -> list[InsiTraits]:
    """Calls in the order CNDA-certified clients make them: each birth first name alone, then the full list,
    then, when a birth place is known, the same with it (INSi answers 02 -> add traits)."""
    upper = [insi_text(p) for p in prenoms if p.strip()]
    candidates = [*upper]
    if len(upper) > 1:
        candidates.append(" ".join(upper))
    plan = [InsiTraits(insi_text(nom), p, sexe, born) for p in candidates]
    if lieu:
        plan += [InsiTraits(insi_text(nom), p, sexe, born, lieu) for p in candidates]
    return plan


def insi_text(value: str) -> str:
    """Names as INSi expects them: upper case, no accents; hyphens, apostrophes and spaces kept."""
    value = value.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE").replace("’", "'")
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def duplicate_key(nom: str, premier_prenom: str, born: date, sexe: str) -> str:
    """Normalised traits that flag two records as potential duplicates (identitovigilance)."""
    return "|".join([text.compact(nom), text.compact(premier_prenom), born.isoformat(), sexe])
