"""The stack's ports: every server binds loopback; checks that a port is free or still listening."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from mlops_pipeline.local.stack.errors import PortTakenError

HOST = "127.0.0.1"


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def ensure_port_free(name: str, port: int, host: str = HOST) -> None:
    """PortTakenError naming the component when ``port`` (non-zero) cannot be bound."""
    if not port:
        return
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortTakenError(
                f"port {port} on {host} (for the {name}) is taken: {exc.strerror}; "
                f"free it or choose another with --{name}-port (0 picks a free one)"
            ) from exc


def ports_listening(ports: Sequence[int]) -> list[int]:
    return [p for p in ports if port_in_use(p)]
