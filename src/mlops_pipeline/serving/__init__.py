"""Inference runtime of the inference Lambda (a zip by default, an image as option).

Self-contained on purpose: it imports nothing from the rest of ``mlops_pipeline`` (and
never MLflow or pandas), so the build copies this folder into the artifact as the package
``serving``. Only numpy + onnxruntime (default) or skops + scikit-learn (fallback) are
needed at run time.
"""

import os

# One request at a time per Lambda environment: thread pools only cost start-up time (OpenBLAS
# spawns and sizes one per core while numpy is imported). Set before numpy is first imported;
# a function's own environment still wins.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
