"""Who may reach what this project listens on: a public address needs a bearer token (the server, the log
inspector and the Ray cluster they start all follow this one rule)."""

from __future__ import annotations

import ipaddress

from ground.errors import BadInputError


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_security(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise BadInputError(
            f"refusing to listen on {host} without a bearer token",
            hint="set serving.token (DUBBER_SERVING__TOKEN) or bind 127.0.0.1",
        )
