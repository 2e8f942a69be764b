"""What the harness deploys besides the resources: the pipeline Lambdas' code and the tests'
inline buildspecs (the demo gives the pipeline module's own, local/stack/checkout.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from mlops_pipeline import statemachine

BUILDSPEC = """version: 0.2
env:
  exported-variables: [MODEL_NAME, MODEL_VERSION, ARTIFACT_URI, ARTIFACT_KIND, ARTIFACT_SHA256, RUN_ID]
phases:
  build:
    commands:
      - '"$PYTHON" build.py > exports.env'
      - set -a; . ./exports.env; set +a
"""
# The tests' training step: the commit's train.py when it has one (a fault test's), else nothing.
TRAIN_BUILDSPEC = """version: 0.2
phases:
  build:
    commands:
      - if [ -f train.py ]; then "$PYTHON" train.py; fi
"""


def source_zip() -> bytes:
    """The pipeline Lambdas' code: the ``mlops_pipeline`` package (deps come from the runtime)."""
    package = Path(__file__).resolve().parents[2]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and path.suffix in {".py", ".json", ".html", ".typed"}
            ):
                archive.write(path, f"mlops_pipeline/{path.relative_to(package).as_posix()}")
        template = statemachine.template_path()
        archive.write(template, "statemachine/pipeline.asl.json")
    return buffer.getvalue()
