"""URLs that leave the machine (annotations, JSON output) without the secrets a git remote can hold."""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def without_credentials(url: str) -> str:
    """``url`` with no user, password or token: only the host and the path are kept.

    Every form git accepts: ``scheme://user:pass@host:port/path`` (any scheme: https, ssh, git+ssh…),
    with a query or fragment (dropped whole: a remote never needs one, and a list of secret-looking
    parameter names would miss one); scp-like ``user:pass@host:path``; and local paths, kept as
    they are. The userinfo ends at the authority's last '@', so a password with '@', ':', '?' or
    '#' in it goes too.
    """
    url = url.strip()
    scheme = _SCHEME.match(url)
    prefix = scheme.group(0) if scheme else ""
    authority, slash, path = url[len(prefix) :].partition("/")
    # git reads a scheme-less remote as scp-like only when a ':' comes before the first '/'.
    if not scheme and ":" not in authority:
        return url
    host = authority.rpartition("@")[2]
    if not scheme:
        return host + slash + path
    return re.split(r"[?#]", prefix + host + slash + path, maxsplit=1)[0]
