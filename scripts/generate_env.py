"""Write a compose .env from .env.example with a generated random value for each change-me secret.

    python scripts/generate_env.py .env.example .env
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

PLACEHOLDER = re.compile(r"(?m)^([A-Z0-9_]+)=change-me[-A-Za-z0-9]*$")


def generated(example: str) -> str:
    """The example with each `NAME=change-me...` line given a fresh random URL-safe secret."""
    return PLACEHOLDER.sub(lambda m: f"{m.group(1)}={secrets.token_urlsafe(24)}", example)


def main(source: str, target: str) -> None:
    """Write target (mode 0600) from source; refuse to overwrite an existing file."""
    path = Path(target)
    if path.exists():
        sys.exit(f"{target} exists: not overwritten")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(generated(Path(source).read_text()))


if __name__ == "__main__":
    main(*sys.argv[1:3])
