"""Every refusal the services raise speaks the reader's language.

A domain error with a specific English sentence and no catalog `key` reaches a zh-CN reader as the
general sentence of its code ("请求冲突"), which loses what went wrong; a field error without a
key, whose code the catalog has no phrase for, reaches them in English. This walks the source with
`ast` and fails on

- a construction of a DomainError subclass (or of a class's own `cls(...)`) with a literal
  message and no `key=`, unless every field error it carries is spoken by the catalog;
- a call of a refusal helper (`refused`, `_refuse`, `invalid`, `LadderError`, ...) with a literal
  message and no key;
- a FieldError (or `field_error(...)`) anywhere with a literal message, no `key=` and a code the catalog has no
  `error.<code>` (or `error.<field>.<code>`) phrase for.

What cannot be checked statically (messages built from lists of field errors, helpers passing a
variable through) is left alone: the field errors were checked where they were made.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from guanxi.kit.i18n import catalog

SRC = Path(__file__).resolve().parents[2] / "src" / "guanxi"
BASE = "DomainError"

# Refusal helpers: name -> the index of the positional argument that may carry the key (None:
# keyword only). Their message is the argument after the field.
HELPERS: dict[str, tuple[int, int | None]] = {
    # name: (index of the message, index of a positional key or None)
    "refused": (2, None),  # loyalty.catalog.errors
    "_refuse": (2, 3),  # loyalty.catalog.redemption
    "invalid": (1, None),  # loyalty.orders.plan
    "_invalid": (1, None),  # loyalty.orders.plan imported under this name; loyalty.exchange
    "LadderError": (1, 2),
    "ExpiryPolicyError": (1, 2),
}
HELPER_FILES = {
    "refused": {"loyalty/catalog/till.py", "loyalty/catalog/errors.py"},
    "_refuse": {"loyalty/catalog/redemption.py"},
    "invalid": {"loyalty/orders/plan.py"},
    "_invalid": {"loyalty/orders/refunds.py", "loyalty/orders/service.py", "loyalty/exchange/partner_exchange.py"},
    "LadderError": {"loyalty/rules/tiering.py"},
    "ExpiryPolicyError": {"loyalty/rules/expiry.py"},
}

# Reviewed exceptions: (file under src/guanxi, the message as written) -> why it needs no key.
_CONSOLE_OWN = "the console shows this class by its own catalog sentence (error_text), never its message"
_FIELD_SUMMARY = (
    "the English summary of the batch's field errors (errors=...): other languages' detail is made of "
    "those field errors, which carry their codes"
)
_INTERNAL = "raised inside a background worker or for a kind no caller can name; no reader sees it"
ALLOWED: dict[tuple[str, str], str] = {
    ("console/actions.py", "'not signed in'"): _CONSOLE_OWN,
    ("console/actions.py", "'the database is busy or unavailable'"): _CONSOLE_OWN,
    ("console/actions.py", "'unexpected error'"): _CONSOLE_OWN,
    ("console/session.py", "'password change required'"): _CONSOLE_OWN,
    (
        "customers/events.py",
        "f'{len(rejected)} problem(s) in the batch, nothing stored: {shown}{more}'",
    ): _FIELD_SUMMARY,
    (
        "customers/events.py",
        "f'{len(unattributed)} event(s) name nobody known, nothing stored: {shown}'",
    ): _FIELD_SUMMARY,
    ("kit/runs.py", "f'no background work of kind {kind}'"): _INTERNAL,
    ("kit/runs.py", "f'run {run_id} vanished while it ran'"): _INTERNAL,
}

# Sites known to need a key, each with why it waits; an entry must leave this list when its site
# gets one (the stale-entry test fails on entries that match nothing).
PENDING: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    message: str
    what: str

    @property
    def entry(self) -> tuple[str, str]:
        return (self.path, self.message)


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


@functools.cache
def _parsed() -> tuple[tuple[str, ast.Module], ...]:
    return tuple(
        (path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SRC.rglob("*.py"))
    )


def _modules() -> Iterator[tuple[str, ast.Module]]:
    yield from _parsed()


def error_classes() -> set[str]:
    """DomainError and every class deriving from it, by name, across the source."""
    bases: dict[str, set[str]] = {}
    for _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(n for b in node.bases if (n := _name(b)))
    found = {BASE}
    grew = True
    while grew:
        grew = False
        for name, parents in bases.items():
            if name not in found and parents & found:
                found.add(name)
                grew = True
    return found


def _literal(node: ast.expr | None) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _argument(call: ast.Call, index: int, name: str) -> ast.expr | None:
    if len(call.args) > index:
        return call.args[index]
    return _keyword(call, name)


def _field_error_spoken(call: ast.Call) -> bool:
    """A FieldError that the catalog says in Chinese: by its key, or by a phrase for its code."""
    if _keyword(call, "key") is not None or len(call.args) > 4:
        return True
    if not _literal(_argument(call, 1, "message")):
        return True
    code = _argument(call, 2, "code")
    if code is None:
        return "error.invalid" in catalog("zh-CN")
    if not isinstance(code, ast.Constant) or not isinstance(code.value, str):
        return False
    field = _argument(call, 0, "field")
    texts = catalog("zh-CN")
    keys = [f"error.{code.value}"]
    if isinstance(field, ast.Constant) and isinstance(field.value, str):
        keys.append(f"error.{field.value}.{code.value}")
    return any(k in texts for k in keys)


def _field_errors(call: ast.Call) -> list[ast.Call] | None:
    """The FieldError constructions of `errors=[...]`; None when it is not a literal list of them."""
    errors = _keyword(call, "errors")
    if not isinstance(errors, ast.List) or not errors.elts:
        return None
    calls = [e for e in errors.elts if isinstance(e, ast.Call) and _name(e.func) == "FieldError"]
    return calls if len(calls) == len(errors.elts) else None


def _classes_with_methods(tree: ast.Module, errors: set[str]) -> dict[ast.AST, str]:
    """Each function defined in a DomainError subclass, to read its `cls(...)` as that class."""
    owner: dict[ast.AST, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in errors:
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    for inner in ast.walk(item):
                        owner[inner] = node.name
    return owner


def findings() -> list[Finding]:
    errors = error_classes()
    out: list[Finding] = []
    for path, tree in _modules():
        owned = _classes_with_methods(tree, errors)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            if name == "cls" and node in owned:
                name = owned[node]
            if name in HELPERS and path in HELPER_FILES[name]:
                at, key_at = HELPERS[name]
                message = _argument(node, at, "message")
                keyed = _keyword(node, "key") is not None or (key_at is not None and len(node.args) > key_at)
                if _literal(message) and not keyed:
                    assert message is not None
                    out.append(Finding(path, node.lineno, ast.unparse(message), f"{name}(...) without a key"))
                continue
            if name not in errors or name in HELPERS:
                continue
            message = _argument(node, 0, "message")
            if not _literal(message) or _keyword(node, "key") is not None:
                continue
            assert message is not None
            # With a literal list of field errors the detail in other languages is made of them,
            # and each is checked where it is made (below).
            if _field_errors(node) is None:
                out.append(Finding(path, node.lineno, ast.unparse(message), f"{name}(...) without a key"))
        for node in ast.walk(tree):
            # kit.errors.field_error(field, message, code, key=..., **params) makes one FieldError.
            # Not CatalogValueError.field_error(field, code), a method of the same name.
            if not isinstance(node, ast.Call):
                continue
            direct = _name(node.func) == "FieldError" or (
                isinstance(node.func, ast.Name) and node.func.id == "field_error"
            )
            if direct and not _field_error_spoken(node):
                message = _argument(node, 1, "message")
                assert message is not None
                out.append(Finding(path, node.lineno, ast.unparse(message), "a FieldError in English only"))
    return out


def test_every_refusal_with_a_sentence_has_a_catalog_key() -> None:
    found = [f for f in findings() if f.entry not in ALLOWED and f.entry not in PENDING]
    assert not found, "refusals a zh-CN reader would not understand:\n" + "\n".join(
        f"  {f.path}:{f.line}: {f.what}: {f.message}" for f in found
    )


def test_the_allowlists_hold_no_stale_entries() -> None:
    seen = {f.entry for f in findings()}
    stale = sorted((set(ALLOWED) | set(PENDING)) - seen)
    assert not stale, f"entries that match no refusal any more; remove them: {stale}"


def test_the_checker_sees_a_keyless_refusal_and_passes_a_keyed_one() -> None:
    """The walk itself, on a small source: a keyless Conflict is found, a keyed one is not."""
    tree = ast.parse(
        "raise Conflict(message='already done')\n"
        "raise Conflict(message='already done', key='problem.x')\n"
        "raise Conflict(message='x: y', errors=[FieldError('x', 'y', 'taken')])\n"
        "raise Conflict(message='x: y', errors=[FieldError('x', 'y', 'no_such_code_anywhere')])\n"
    )
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _name(n.func) == "Conflict"]
    spoken = [
        _keyword(c, "key") is not None or ((fs := _field_errors(c)) is not None and all(map(_field_error_spoken, fs)))
        for c in calls
    ]
    assert spoken == [False, True, True, False]
