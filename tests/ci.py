"""What a test does when a tool it needs is missing: skip on a developer's machine, fail under CI.

CI (``CI=true``, as ``.ci/run`` is run) must run every tier; a missing Terraform, checkov or
PostgreSQL there is a broken machine setup, never a reason to pass quietly.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it under ``CI=true``."""
    if under_ci():
        pytest.fail(f"required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)
