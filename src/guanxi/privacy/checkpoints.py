"""Signed checkpoints of the audit chain, kept as files outside the database.

A checkpoint says "record `seq` is the newest and its hash is `head_hash`, at `created_at`",
signed with the audit signing key (Ed25519). The database cannot vouch for its own length: whoever
can delete rows can delete the head row too. A checkpoint can: `audit.verify` with the
checkpoints as anchors reports a table wiped, truncated or re-chained before the newest of them.
Files are `<seq>-<time>.json` in GUANXI_AUDIT_CHECKPOINT_DIR (default GUANXI_HOME/audit-checkpoints);
ship them somewhere the database's operators cannot write (`guanxi audit export-checkpoints`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from guanxi.config import Settings, get_settings
from guanxi.kit import clock
from guanxi.kit.crypto import load_audit_signing_key
from guanxi.kit.db import Database
from guanxi.privacy import audit

FORMAT = "guanxi-audit-checkpoint/1"
PUBLIC_KEY_FILE = "audit-signing.pub"
_FIELDS = ("format", "seq", "head_hash", "created_at", "key_id")


def checkpoint_dir(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.audit_checkpoint_dir or settings.resolved_home / "audit-checkpoints"


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint of the public key, printed so operators can note which key they trust."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def read_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key in PEM (what `export-checkpoints` writes); ValueError otherwise."""
    try:
        loaded = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(str(path)) from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError(str(path))
    return loaded


def _signed_bytes(body: dict[str, object]) -> bytes:
    return json.dumps({k: body[k] for k in _FIELDS}, sort_keys=True, separators=(",", ":")).encode()


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write(directory: Path, signing_key: Ed25519PrivateKey, anchor: audit.Anchor) -> Path:
    """Sign `anchor` and write it as a new file (atomically: a reader never sees half a file)."""
    created = clock.as_utc(anchor.created_at)
    body: dict[str, object] = {
        "format": FORMAT,
        "seq": anchor.seq,
        "head_hash": anchor.head_hash,
        "created_at": created.isoformat(),
        "key_id": key_id(signing_key.public_key()),
    }
    body["signature"] = base64.b64encode(signing_key.sign(_signed_bytes(body))).decode()
    target = _private_dir(directory) / f"{anchor.seq:012d}-{created.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    temporary = target.with_name(f".{target.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(body, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return target


@dataclass(frozen=True)
class Loaded:
    """The checkpoints of a directory that verified, and a problem per file that did not."""

    anchors: list[audit.Anchor] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (catalog code, file name)

    @property
    def latest(self) -> audit.Anchor | None:
        return max(self.anchors, key=lambda a: (a.seq, a.created_at), default=None)


def _files(directory: Path) -> Iterator[Path]:
    if directory.is_dir():
        yield from sorted(p for p in directory.glob("*.json") if not p.name.startswith("."))


def load(directory: Path, public_key: Ed25519PublicKey | None) -> Loaded:
    """Read and check every checkpoint in `directory` against `public_key`."""
    loaded = Loaded()
    for path in _files(directory):
        if public_key is None:
            loaded.problems.append(("no_public_key", path.name))
            continue
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            signature = base64.b64decode(body["signature"], validate=True)
            anchor = audit.Anchor(int(body["seq"]), str(body["head_hash"]), datetime.fromisoformat(body["created_at"]))
            signed = _signed_bytes(body)
            if body["format"] != FORMAT:
                raise ValueError(body["format"])
        except (OSError, ValueError, KeyError, TypeError):
            loaded.problems.append(("unreadable", path.name))
            continue
        try:
            public_key.verify(signature, signed)
        except InvalidSignature:
            loaded.problems.append(("bad_signature", path.name))
            continue
        loaded.anchors.append(anchor)
    return loaded


def trusted_public_key(settings: Settings | None = None) -> Ed25519PublicKey | None:
    """The public half of this installation's signing key, if it has one."""
    private = load_audit_signing_key(settings or get_settings(), create=False)
    return None if private is None else private.public_key()


@dataclass(frozen=True)
class Outcome:
    """What `write_checkpoint` did: wrote `path`, found nothing new, or refused on a broken chain."""

    path: Path | None
    anchor: audit.Anchor | None
    result: audit.VerifyResult
    problems: list[tuple[str, str]] = field(default_factory=list)


def write_checkpoint(database: Database, settings: Settings | None = None) -> Outcome:
    """Verify what was appended since the latest checkpoint, then sign the new head.

    A checkpoint vouches for the chain up to it, so none is written over a chain that does not
    verify (the outcome carries the finding) or a checkpoint file that does not.
    """
    settings = settings or get_settings()
    signing_key = load_audit_signing_key(settings, create=True)
    assert signing_key is not None
    directory = checkpoint_dir(settings)
    previous = load(directory, signing_key.public_key())
    latest = previous.latest
    with database.unit_of_work(read_only=True) as session:
        result = audit.verify(session, start=latest)
    if not result.ok or previous.problems or result.end is None:
        return Outcome(None, None, result, previous.problems)
    seq, head_hash = result.end
    if seq == 0 or (latest is not None and latest.seq == seq):
        return Outcome(None, latest, result)
    anchor = audit.Anchor(seq, head_hash, clock.now())
    return Outcome(write(directory, signing_key, anchor), anchor, result)


def export(source: Path, target: Path, public_key: Ed25519PublicKey) -> int:
    """Copy every checkpoint file and the public key into `target`; returns the number of files."""
    _private_dir(target)
    copied = 0
    for path in _files(source):
        if (target / path.name).resolve() != path.resolve():  # exporting into the directory itself
            shutil.copy2(path, target / path.name)
        copied += 1
    (target / PUBLIC_KEY_FILE).write_bytes(public_key_pem(public_key))
    return copied
