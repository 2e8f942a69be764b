"""Process-group checks shared by the local servers and the stack (POSIX)."""

from __future__ import annotations

import os


def group_alive(pgid: int) -> bool:
    """True while any process of the group ``pgid`` exists (or exists but is not ours to signal)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
