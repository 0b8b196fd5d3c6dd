"""BGPPeer passwords: the Kubernetes secrets a `password.secretKeyRef` names, read from files.

calico-node reads a BGPPeer's `spec.password.secretKeyRef` {name, key} from the Kubernetes API
(a secret in its own namespace, confd/pkg/backends/calico/secret_watcher.go). In the etcdv3
datastore the secrets still live in Kubernetes, and pyrr has no API server to ask: it reads
them as a pod sees a mounted secret, one file per key, `<dir>/<secret name>/<key>`
(PYRR_SECRETS_DIR, default DEFAULT_SECRETS_DIR; `secretName: bgp-secrets` mounted at
`/etc/pyrr/secrets/bgp-secrets`). The file's bytes are the key, exactly as calico-node uses the
secret's data (no newline is stripped), and must be UTF-8 of 1 to 80 bytes (RFC 2385).

A key that cannot be read is what calico-node does with a secret it cannot get: a warning, and
the session is configured without that key (pyrr: with PYRR_BGP_PASSWORD[_FILE] when set, else
none); once the file appears, the next look (pyrr.store.calico.source re-reads the secrets in
use every few seconds) configures the session with it.

Names are checked before any path is built: a secret name is a DNS subdomain and a key
Kubernetes' config-map key pattern, so no `..` or `/` can walk out of the directory.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Final

from ..limits import MAX_PASSWORD_BYTES, clip, valid_password_size
from .model import SecretRead

__all__ = ["DEFAULT_SECRETS_DIR", "SecretDir", "digest"]

DEFAULT_SECRETS_DIR: Final = "/etc/pyrr/secrets"
# Kubernetes: a Secret's name is a DNS-1123 subdomain; a data key is [-._a-zA-Z0-9]+.
_SECRET_NAME: Final = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z", re.ASCII
)
_SECRET_KEY: Final = re.compile(r"[-._a-zA-Z0-9]{1,253}\Z", re.ASCII)
# A key file larger than this is not a TCP MD5 key; reading stops there.
_READ_LIMIT: Final = 4096


def digest(value: str | None) -> str:
    """What pyrr remembers of a key to notice that it changed ("" for none)."""
    return "" if value is None else hashlib.sha256(value.encode("utf-8")).hexdigest()


class SecretDir:
    """The mounted secrets under one directory; `lookup` is a model.SecretLookup."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, name: str, key: str) -> Path | None:
        """Where the key lives, or None when the names are not valid Kubernetes names."""
        if not _SECRET_NAME.match(name) or not _SECRET_KEY.match(key) or key in (".", ".."):
            return None
        return self.directory / name / key

    def lookup(self, name: str, key: str) -> SecretRead:
        """The key and the file read, or None and why it could not be read (naming the path)."""
        path = self.path(name, key)
        if path is None:
            why = f"secret {clip(name)} key {clip(key)} is not a valid Kubernetes name and key"
            return SecretRead(None, why)
        try:
            with path.open("rb") as f:
                data = f.read(_READ_LIMIT + 1)
        except FileNotFoundError:
            why = f"{path} does not exist (mount secret {name!r} at {path.parent})"
            return SecretRead(None, why, mounted=self.directory.is_dir())
        except OSError as err:
            return SecretRead(None, f"cannot read {path}: {err.strerror or err}")
        # The size first: a large file is cut at _READ_LIMIT + 1 bytes, maybe inside a UTF-8
        # character, and is wrong for its size whatever its text.
        if not valid_password_size(len(data)):
            if not data:
                size = "empty"
            elif len(data) > _READ_LIMIT:
                size = f"over {_READ_LIMIT} bytes"
            else:
                size = f"{len(data)} bytes"
            why = f"{path} is {size}; a TCP MD5 key (RFC 2385) is 1 to {MAX_PASSWORD_BYTES} bytes"
            return SecretRead(None, why)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return SecretRead(None, f"{path} is not UTF-8 text")
        return SecretRead(text, str(path))
