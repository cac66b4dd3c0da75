"""Canonical URLs and the article id derived from them.

The id is the Kafka message key and the Elasticsearch ``_id``: the same story fetched
twice (re-delivery, a second poll, a link with ``utm_*`` noise) maps to one document.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that identify the click, not the page. Exact names plus prefixes.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
        "_ga", "_gl", "ocid", "cmpid", "ncid", "sr_share", "smid", "ref_src", "rss",
    }
)
_TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Normalise ``url``: lowercase scheme and host, no default port, no fragment,
    no tracking parameters, remaining parameters sorted, empty path -> ``/``.

    Path case is kept: many servers treat it as significant.
    """
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    scheme = parts.scheme.lower()
    # Built from hostname alone, so any user:password@ in the link is dropped.
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:  # IPv6 literal: hostname drops the brackets
        host = f"[{host}]"
    netloc = host
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{parts.port}"
    query_pairs = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(key)
    ]
    query = urlencode(sorted(query_pairs))
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def article_id(url: str) -> str:
    """SHA-256 (hex) of the canonical URL."""
    return hashlib.sha256(canonical_url(url).encode("utf-8")).hexdigest()
