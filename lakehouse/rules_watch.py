"""Rules versions: a content hash per rules file, an immutable copy per version, and a watcher.

The running stream judges payments with a copy of the rules file kept under
`$PAYSTREAM_HOME/rules/<version>.yaml`, where the version is the first 12 hex digits of
the sha256 of the file's bytes; every alert and decision carries it as `rules_version`. The
watcher reads the live rules file every few seconds: a new content that passes every check
of the rules and risk sections becomes a new copy for the stream to switch to; one that
fails is refused once, in one line, and the running version stays. Editors that write a file
in two steps show a half-written content first: it is refused, and the whole file that
follows is taken.
May import: the rest of lakehouse only.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from lakehouse.errors import PaystreamError
from lakehouse.risk import parse_risk
from lakehouse.rules import parse_rules

VERSION_DIGITS = 12
"""Hex digits of the sha256 a version keeps (48 bits: unique among any file's edits)."""


@dataclass(frozen=True)
class RulesVersion:
    """One checked version of a rules file: its hash, its text, the file it was read from and
    the immutable copy the stream judges with."""

    version: str
    text: str
    source: Path
    path: Path


def content_version(data: bytes) -> str:
    """The version of a rules file's bytes: their sha256, to VERSION_DIGITS hex digits (pure)."""
    return hashlib.sha256(data).hexdigest()[:VERSION_DIGITS]


def rules_version(path: Path) -> str:
    """The version of the rules file at `path` (what the batch jobs stamp on their alerts)."""
    return content_version(path.read_bytes())


def check_rules_text(text: str, source: Path) -> None:
    """Refuse, in one line naming the file, a rules text whose YAML, rules or risk section
    fails its checks."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PaystreamError(f"{source}: not YAML: {str(error).splitlines()[0]}") from None
    parse_rules(document, str(source))
    parse_risk(document, str(source))


def keep_version(data: bytes, source: Path, folder: Path) -> RulesVersion:
    """Check a rules file's bytes and keep them as `folder/<version>.yaml` (written once,
    atomically); a fault is a one-line PaystreamError and nothing is kept."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise PaystreamError(f"{source}: not UTF-8 text") from None
    check_rules_text(text, source)
    version = content_version(data)
    path = folder / f"{version}.yaml"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{version}.{os.getpid()}.partial"
        partial.write_bytes(data)
        partial.replace(path)
    return RulesVersion(version, text, source, path)


def snapshot_rules(source: Path, folder: Path) -> RulesVersion:
    """The rules file's current version, checked and kept (a one-line error when the file is
    unreadable or fails a check)."""
    try:
        data = source.read_bytes()
    except OSError as error:
        raise PaystreamError(f"cannot read the rules file {source}: {error.strerror}") from None
    return keep_version(data, source, folder)


class RulesWatcher:
    """Reads a rules file on each poll and reports each content it has not seen: a new checked
    version, or the one-line reason a content was refused (each reported once)."""

    def __init__(self, live: RulesVersion, folder: Path) -> None:
        self.source = live.source
        self.folder = folder
        self._seen = live.version

    def poll(self) -> RulesVersion | PaystreamError | None:
        """The file's new version, or why its new content was refused; None when unchanged
        since the last poll (an unreadable file counts as unchanged: an editor may be
        replacing it)."""
        try:
            data = self.source.read_bytes()
        except OSError:
            return None
        version = content_version(data)
        if version == self._seen:
            return None
        self._seen = version
        try:
            return keep_version(data, self.source, self.folder)
        except PaystreamError as error:
            return error
