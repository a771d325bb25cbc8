"""Who may write: SPARQL Update and Graph Store writes need the update token.

Without a configured token (settings ``update_token`` or ``update_token_file``)
the server is read-only and every write answers 403 with an explanation.  With
one, a write needs ``Authorization: Bearer <token>``: 401 when the header is
missing, 401 with ``error="invalid_token"`` when the token is wrong (RFC 6750 §3.1).
Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

from .errors import SsikgError

log = logging.getLogger("ssikg")

REALM = 'Bearer realm="ssikg"'


def writes_enabled(settings) -> bool:
    """Whether a token is configured, so writes may be made: from the settings alone (a token
    file is only read when a write comes), so start-up and descriptions can tell."""
    return bool(settings.get("update_token") or settings.get("update_token_file"))


def configured_token(settings) -> str | None:
    """The token a write must carry; None when writes are not enabled."""
    if not writes_enabled(settings):
        return None
    token = settings.get("update_token")
    if token:
        return str(token)
    path = settings.get("update_token_file")
    try:
        first = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        log.error("cannot read update_token_file %s: %s", path, exc)
        raise SsikgError(503, "writes are unavailable: the configured update token file cannot be "
                         "read (see the server log)") from None
    token = first[0].strip() if first else ""
    if not token:
        raise SsikgError(503, "writes are unavailable: the configured update token file is empty")
    return token


def require_write(settings, authorization: str | None, *, store=None) -> None:
    """Raise the right 401/403 unless this request may write."""
    token = configured_token(settings)
    if token is None:
        raise SsikgError(403, "this endpoint is read-only: no update token is configured, so SPARQL "
                         "Update and Graph Store writes are refused (set SSIKG_UPDATE_TOKEN or "
                         "SSIKG_UPDATE_TOKEN_FILE to enable them)", title="Read-only")
    if store is not None and not getattr(store, "writable", True):
        raise SsikgError(403, "the store is open read-only; writes are refused", title="Read-only")
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise SsikgError(401, "writing needs an 'Authorization: Bearer <token>' header",
                         title="Authentication required", headers={"WWW-Authenticate": REALM})
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        raise SsikgError(401, "the bearer token is not valid for writing", title="Invalid token",
                         headers={"WWW-Authenticate": REALM + ', error="invalid_token"'})
