"""The port-contract suite: the same scenarios over each fake and its real adapter (README.md).

The fakes live in the unit tier's package ``tests`` (``tests/fakes.py``); the functional tier is
no package, so pytest does not put the repository root on the path: this package does.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
