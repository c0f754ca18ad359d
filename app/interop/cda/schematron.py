"""Our ISO Schematron compiler: a ``.sch`` file (``queryBinding="xslt2"``) to an XSLT 3.0 stylesheet emitting SVRL.

Three steps, as in ISO/IEC 19757-3 Annex A: inline ``<include>`` (recursively, relative to each including file),
expand abstract patterns (``is-a`` + ``param``, replacing ``$name`` in ``test``, ``context``, ``select`` and text, in
parameter order), then generate one XSLT mode per active pattern. Each pattern selects its candidate nodes once
instead of walking the whole tree, from two keys indexing the document (by local name, and by the roots of each
element's templateId children): the elements carrying the templateId its rules' last steps require, or else of
their last-step names (``//(context)`` for other contexts, the first step of ``//step/…`` paths evaluated once
per document); the rules of a pattern are templates in descending
priority matching exactly, so a node fires the first matching rule only, as the standard requires, and a
candidate no rule matches is skipped.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

SCH = "http://purl.oclc.org/dsdl/schematron"
XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
COMPILER_VERSION = "dui-sch-6"
# Marks the stylesheet parameters that stand for a value-set file (see _preloadable_documents).
PRELOAD = "urn:dui:compiled-schematron"
PRELOAD_HREF = f"{{{PRELOAD}}}href"

_MACRO_ATTRIBUTES = ("test", "context", "select")


class SchematronError(Exception):
    """The schematron cannot be compiled (missing include, unknown abstract pattern or rule)."""


def _q(local: str) -> str:
    return f"{{{SCH}}}{local}"


def _x(local: str) -> str:
    return f"{{{XSL}}}{local}"


def _s(local: str) -> str:
    return f"{{{SVRL}}}{local}"


@dataclass
class _Loader:
    """Parses each file once; every inclusion gets its own copy."""

    cache: dict[Path, etree._ElementTree] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def tree(self, path: Path) -> etree._ElementTree:
        if path not in self.cache:
            if not path.is_file():
                raise SchematronError(f"Included file not found: {path}")
            self.cache[path] = etree.parse(str(path), etree.XMLParser(remove_comments=True, resolve_entities=False))
            self.files.append(path)
        return self.cache[path]


def _inline_includes(element: etree._Element, folder: Path, loader: _Loader, depth: int = 0) -> None:
    if depth > 50:
        raise SchematronError("Schematron includes nest too deep (cycle?)")
    for include in list(element.iter(_q("include"))):
        href = include.get("href", "")
        document, _, fragment = href.partition("#")
        target = (folder / document).resolve() if document else None
        if target is None:
            raise SchematronError(f"Include without a file: {href!r}")
        root = loader.tree(target).getroot()
        if fragment:
            found = root.xpath("//*[@id=$f or @xml:id=$f]", f=fragment)
            if not found:
                raise SchematronError(f"No element {fragment!r} in {target}")
            piece = copy.deepcopy(found[0])
        else:
            piece = copy.deepcopy(root)
        if piece.tag == _q("schema"):
            raise SchematronError(f"{href}: include a fragment, not a whole schema")
        piece.tail = include.tail
        _inline_includes(piece, target.parent, loader, depth + 1)
        parent = include.getparent()
        if parent is None:
            raise SchematronError("An include cannot be the root")
        parent.replace(include, piece)


def _expand(text: str, params: list[tuple[str, str]]) -> str:
    # Plain substring replacement in parameter order, as the reference implementation does.
    for name, value in params:
        text = text.replace(f"${name}", value)
    return text


def _instantiate(node: etree._Element, params: list[tuple[str, str]]) -> None:
    for element in node.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute in _MACRO_ATTRIBUTES:
            value = element.get(attribute)
            if value is not None:
                element.set(attribute, _expand(value, params))
        if element is not node and element.text:
            element.text = _expand(element.text, params)
        if element is not node and element.tail:
            element.tail = _expand(element.tail, params)
    if node.text:
        node.text = _expand(node.text, params)


def _expand_abstract_patterns(schema: etree._Element) -> None:
    abstract: dict[str, list[etree._Element]] = {}
    for pattern in schema.iter(_q("pattern")):
        if pattern.get("abstract") == "true" and pattern.get("id"):
            abstract.setdefault(pattern.get("id", ""), []).append(pattern)
    for pattern in list(schema.iter(_q("pattern"))):
        is_a = pattern.get("is-a")
        if not is_a:
            continue
        if is_a not in abstract:
            raise SchematronError(f"Pattern {pattern.get('id')!r} extends unknown abstract pattern {is_a!r}")
        params = [(p.get("name", ""), p.get("value", "")) for p in pattern.findall(_q("param"))]
        parent = pattern.getparent()
        assert parent is not None
        position = parent.index(pattern)
        for model in abstract[is_a]:
            real = etree.Element(_q("pattern"), id=pattern.get("id") or f"{is_a}-{position}")
            real.text = model.text
            for child in model:
                real.append(copy.deepcopy(child))
            _instantiate(real, params)
            parent.insert(position, real)
            position += 1
        real.tail = pattern.tail
        parent.remove(pattern)
    for models in abstract.values():
        for model in models:
            parent = model.getparent()
            if parent is not None:
                parent.remove(model)


def load_schema(path: Path) -> tuple[etree._Element, list[Path]]:
    """Steps 1 and 2: the schematron with includes inlined and abstract patterns expanded, and the files read."""
    loader = _Loader()
    root = copy.deepcopy(loader.tree(path.resolve()).getroot())
    if root.tag != _q("schema"):
        raise SchematronError(f"{path} is not an ISO schematron (root {root.tag})")
    _inline_includes(root, path.resolve().parent, loader)
    _expand_abstract_patterns(root)
    return root, loader.files


def source_digest(path: Path) -> str:
    """Hash of everything the compiled stylesheet depends on: the compiler and the expanded schematron."""
    root, _files = load_schema(path)
    digest = hashlib.sha256(COMPILER_VERSION.encode())
    digest.update(path.resolve().parent.as_uri().encode())
    digest.update(etree.tostring(root, method="c14n"))
    return digest.hexdigest()


def _top_level(expression: str, separator: str) -> list[int]:
    """Positions of ``separator`` outside brackets, parentheses and string literals."""
    positions: list[int] = []
    depth, quote = 0, ""
    for index, char in enumerate(expression):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == separator and depth == 0:
            positions.append(index)
    return positions


def _split_union(expression: str) -> list[str]:
    """Top-level ``|`` alternatives of a pattern."""
    cuts = [-1, *_top_level(expression, "|"), len(expression)]
    parts = [expression[a + 1 : b].strip() for a, b in itertools.pairwise(cuts)]
    return [part for part in parts if part]


_LAST_STEP = re.compile(r"^(?:child::)?(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*|\*)\s*(\[.*)?$", re.DOTALL)
# A predicate that holds only for an element with a templateId child of that root: `P:templateId/@root = 'X'`
# or `P:templateId[@root = 'X']`, alone or as the first operand of an `and` (see _template_root).
_TEMPLATE_TEST = re.compile(
    r"""^\s*(?:[A-Za-z_][\w.-]*:)?templateId\s*(?:/\s*@root\s*=\s*(?:'([^']*)'|"([^"]*)")"""
    r"""|\[\s*@root\s*=\s*(?:'([^']*)'|"([^"]*)")\s*\])\s*(and\s.*)?$""",
    re.DOTALL,
)
_OR = re.compile(r"(?<![\w.:-])or(?![\w.:-])")
NAME_KEY = "dui-by-name"
TEMPLATE_KEY = "dui-by-template"
_NOT_ELEMENTS = ("node", "text", "comment", "processing-instruction")


@dataclass
class _Candidates:
    """What a pattern's rules may match, gathered so that each index is looked up once with every value."""

    names: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def add(self, part: str) -> None:
        kind, value = _candidate(part)
        bucket = {"name": self.names, "template": self.templates, "path": self.paths}[kind]
        if value not in bucket:
            bucket.append(value)

    def expression(self, leading: dict[str, str]) -> str:
        """The selection; ``leading`` collects the first steps of ``//step/…`` paths as global variables (see
        :func:`_from_leading_step`)."""
        lookups = [
            f"key('{key}', ({', '.join(_literal(v) for v in values)}))"
            for key, values in ((TEMPLATE_KEY, self.templates), (NAME_KEY, self.names))
            if values
        ]
        return " | ".join([*lookups, *(_from_leading_step(path, leading) for path in self.paths)])


def _from_leading_step(path: str, leading: dict[str, str]) -> str:
    """``(//step/rest)`` as ``($v/rest)``, ``$v`` a global variable holding ``//step``: the same nodes (a path is
    evaluated step after step), but ``//step``, which walks the whole document, is evaluated once per document
    instead of once per rule (the structural-minimum profile starts 148 of its rules with the same
    ``//hl7:ClinicalDocument[…]``)."""
    inner = path[1:-1] if path.startswith("(//") and path.endswith(")") else None
    if inner is None:
        return path
    slashes = _top_level(inner, "/")
    if len(slashes) < 3 or slashes[:2] != [0, 1] or slashes[2] == 2:
        return path
    step = inner[: slashes[2]]
    if step not in leading:
        leading[step] = f"dui-context-{len(leading)}"
    return f"(${leading[step]}{inner[slashes[2] :]})"


def _literal(value: str) -> str:
    return f"'{value}'" if "'" not in value else f'"{value}"'


def _first_predicate(step: str) -> str | None:
    """The text inside the first ``[…]`` of a step (None without one)."""
    start = step.find("[")
    if start < 0:
        return None
    depth, quote = 0, ""
    for index in range(start, len(step)):
        char = step[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return step[start + 1 : index]
    return None


def _template_root(predicate: str | None) -> str | None:
    """The templateId root an element must carry to satisfy ``predicate``; None when it need not (an ``or``
    anywhere may make the templateId test optional, so such predicates are left to a full search)."""
    if predicate is None:
        return None
    found = _TEMPLATE_TEST.match(predicate)
    if found is None or (found.group(5) and _OR.search(found.group(5))):
        return None
    return next(group for group in found.groups()[:4] if group is not None)


def _candidate(part: str) -> tuple[str, str]:
    """Nodes the pattern alternative ``part`` may match, as the cheapest superset we can name: the elements with a
    templateId child of the root its last step requires (one key), else the elements of the last step's local
    name (one key), else a ``//`` search. The template's match pattern then decides exactly. (For a wildcard
    after a path, the children of the elements the step before names are a superset too, but selecting them
    was twice as slow as the path itself, whose predicates leave fewer nodes to match.)"""
    slashes = _top_level(part, "/")
    last = part[slashes[-1] + 1 :].strip() if slashes else part.strip()
    found = _LAST_STEP.match(last)
    if found and found.group(1) not in _NOT_ELEMENTS:
        root = _template_root(_first_predicate(last))
        if root is not None:
            return "template", root
        if found.group(1) != "*":
            return "name", found.group(1)
    return "path", f"({part})" if part.startswith("/") else f"//({part})"


def _selection(rules: list[etree._Element], leading: dict[str, str]) -> str:
    """An expression selecting at least every node the rules' match patterns can match."""
    candidates = _Candidates()
    for rule in rules:
        for part in _split_union(rule.get("context", "")):
            candidates.add(part)
    return candidates.expression(leading)


def _message(target: etree._Element, source: etree._Element) -> None:
    """Copy the human text of an assert or report, evaluating value-of and name."""

    def text(value: str | None) -> None:
        if value:
            node = etree.SubElement(target, _x("text"))
            node.text = value

    text(source.text)
    for child in source:
        if child.tag == _q("value-of"):
            etree.SubElement(target, _x("value-of"), select=child.get("select", "."))
        elif child.tag == _q("name"):
            etree.SubElement(target, _x("value-of"), select=f"name({child.get('path', '.')})")
        elif isinstance(child.tag, str):
            _message(target, child)
        text(child.tail)


def _variable(parent: etree._Element, let: etree._Element) -> None:
    name = let.get("name", "")
    value = let.get("value")
    if value is None:
        variable = etree.SubElement(parent, _x("variable"), name=name)
        for child in let:
            variable.append(copy.deepcopy(child))
        return
    etree.SubElement(parent, _x("variable"), name=name, select=value)


def _check(template: etree._Element, check: etree._Element) -> None:
    test = check.get("test", "true()")
    failed = check.tag == _q("assert")
    condition = etree.SubElement(template, _x("if"), test=f"not({test})" if failed else test)
    out = etree.SubElement(condition, _s("failed-assert" if failed else "successful-report"))
    out.set("test", test)
    for attribute in ("id", "role", "flag", "see"):
        if check.get(attribute):
            out.set(attribute, check.get(attribute, ""))
    location = etree.SubElement(out, _x("attribute"), name="location")
    etree.SubElement(location, _x("value-of"), select="path(.)")
    _message(etree.SubElement(out, _s("text")), check)


def _active_patterns(schema: etree._Element, phase: str | None) -> set[str] | None:
    chosen = phase or schema.get("defaultPhase")
    if not chosen or chosen == "#ALL":
        return None
    for candidate in schema.findall(_q("phase")):
        if candidate.get("id") == chosen:
            return {active.get("pattern", "") for active in candidate.findall(_q("active"))}
    raise SchematronError(f"Unknown phase {chosen!r}")


def compile_schematron(path: Path, *, phase: str | None = None) -> bytes:
    """Compile ``path`` to an XSLT 3.0 stylesheet whose output on a document is an SVRL report."""
    schema, _files = load_schema(path)
    namespaces = {"xsl": XSL, "svrl": SVRL, "xs": "http://www.w3.org/2001/XMLSchema", "dui-sch": PRELOAD}
    for ns in schema.iter(_q("ns")):
        prefix, uri = ns.get("prefix"), ns.get("uri")
        if prefix and uri and prefix not in namespaces:
            namespaces[prefix] = uri
    stylesheet = etree.Element(_x("stylesheet"), nsmap=namespaces, version="3.0")
    # Value-set lookups (document('../jeuxDeValeurs/…'), doc('include/…')) resolve from the schematron's folder.
    stylesheet.set(XML_BASE, path.resolve().parent.as_uri() + "/")
    stylesheet.set("exclude-result-prefixes", " ".join(p for p in namespaces if p not in ("svrl",)))
    etree.SubElement(stylesheet, _x("output"), method="xml", indent="no")
    # Two indexes of the document's elements, built once each, serve every pattern's selection: by local name,
    # and by the roots of their templateId children (the contexts `*[cda:templateId/@root = '…']`).
    etree.SubElement(stylesheet, _x("key"), name=NAME_KEY, match="*", use="local-name()")
    etree.SubElement(stylesheet, _x("key"), name=TEMPLATE_KEY, match="*", use="*[local-name() = 'templateId']/@root")
    # Schema- and pattern-level variables are global, evaluated on the document (as in the reference engine).
    declared: dict[str, etree._Element] = {}
    for let in [*schema.findall(_q("let")), *(let for p in schema.iter(_q("pattern")) for let in p.findall(_q("let")))]:
        if let.get("name") not in declared:
            declared[let.get("name", "")] = let
            _variable(stylesheet, let)

    abstract_rules = {rule.get("id"): rule for rule in schema.iter(_q("rule")) if rule.get("abstract") == "true"}
    active = _active_patterns(schema, phase)
    main = etree.Element(_x("template"), match="/")
    report = etree.SubElement(main, _s("schematron-output"), title=(schema.findtext(_q("title")) or "").strip())
    templates: list[etree._Element] = []
    leading: dict[str, str] = {}
    for index, pattern in enumerate(p for p in schema.iter(_q("pattern")) if p.get("abstract") != "true"):
        if active is not None and pattern.get("id") not in active:
            continue
        rules = [r for r in pattern.findall(_q("rule")) if r.get("abstract") != "true" and r.get("context")]
        if not rules:
            continue
        mode = f"M{index}"
        etree.SubElement(stylesheet, _x("mode"), name=mode, **{"on-no-match": "deep-skip"})
        # SVRL active-pattern elements are left out: only failed asserts and successful reports are read.
        selection = _selection(rules, leading)
        etree.SubElement(report, _x("apply-templates"), select=selection, mode=mode)
        for position, rule in enumerate(rules):
            template = etree.Element(
                _x("template"), match=rule.get("context", ""), mode=mode, priority=str(1000 + len(rules) - position)
            )
            for child in _rule_body(rule, abstract_rules):
                if child.tag == _q("let"):
                    _variable(template, child)
                elif child.tag in (_q("assert"), _q("report")):
                    _check(template, child)
            templates.append(template)
    for step, name in leading.items():
        etree.SubElement(stylesheet, _x("variable"), name=name, select=step)
    stylesheet.append(main)
    stylesheet.extend(templates)
    _preloadable_documents(stylesheet, _literal_globals(schema, declared))
    return bytes(etree.tostring(stylesheet, xml_declaration=True, encoding="UTF-8"))


_STRING = re.compile(r"""^\s*(?:'([^']*)'|"([^"]*)")\s*$""")
_DOCUMENT_CALL = re.compile(r"""(?<![\w.:-])(?:doc|document)\(\s*(?:'([^']*)'|"([^"]*)"|\$([A-Za-z_][\w.-]*))\s*\)""")
_XPATH_ATTRIBUTES = ("select", "test", "match", "use")


def _literal_globals(schema: etree._Element, declared: dict[str, etree._Element]) -> dict[str, str]:
    """Global variables whose value is a string literal, and never shadowed by a rule's own variable."""
    local = {let.get("name") for rule in schema.iter(_q("rule")) for let in rule.iter(_q("let"))}
    literals: dict[str, str] = {}
    for name, let in declared.items():
        found = _STRING.match(let.get("value") or "")
        if found and name not in local:
            literals[name] = found.group(1) if found.group(1) is not None else found.group(2)
    return literals


def _preloadable_documents(stylesheet: etree._Element, literals: dict[str, str]) -> None:
    """Each value-set file named by a constant (``doc('include/voc-….xml')``, ``document($jdv_x)`` with
    ``$jdv_x`` a string) becomes a global parameter whose default is that very call, marked with the file's
    address: the validator parses the file once and passes it to every run, instead of Saxon reading it again
    for each document (a transformation keeps the documents it reads only while it runs)."""
    parameters: dict[str, str] = {}
    calls: dict[str, str] = {}

    def replace(found: re.Match[str]) -> str:
        href = found.group(1) if found.group(1) is not None else found.group(2)
        if href is None:
            href = literals.get(found.group(3))
            if href is None:
                return found.group(0)
        if href not in parameters:
            parameters[href] = f"dui-document-{len(parameters)}"
            calls[href] = found.group(0)
        return f"${parameters[href]}"

    for element in stylesheet.iter(f"{{{XSL}}}*"):
        for attribute in _XPATH_ATTRIBUTES:
            value = element.get(attribute)
            if value is not None and ("doc(" in value or "document(" in value):
                element.set(attribute, _DOCUMENT_CALL.sub(replace, value))
    # After the variables they may name (a parameter's default may use a global variable), before the rest.
    position = max((i for i, child in enumerate(stylesheet) if child.tag == _x("variable")), default=1) + 1
    for href, name in parameters.items():
        parameter = etree.Element(_x("param"), name=name, select=calls[href])
        parameter.set(PRELOAD_HREF, href)
        stylesheet.insert(position, parameter)
        position += 1


def _rule_body(rule: etree._Element, abstract_rules: dict[str | None, etree._Element]) -> list[etree._Element]:
    body: list[etree._Element] = []
    for child in rule:
        if child.tag == _q("extends"):
            parent = abstract_rules.get(child.get("rule"))
            if parent is None:
                raise SchematronError(f"Rule extends unknown abstract rule {child.get('rule')!r}")
            body.extend(_rule_body(parent, abstract_rules))
        elif isinstance(child.tag, str):
            body.append(child)
    return body
