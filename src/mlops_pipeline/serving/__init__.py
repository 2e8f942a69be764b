"""Inference runtime of the serving image (the inference Lambda).

Self-contained on purpose: it imports nothing from the rest of ``mlops_pipeline`` (and
never MLflow or pandas), so the build copies this folder into the image as the package
``serving``. Only numpy + onnxruntime (default) or skops + scikit-learn (fallback) are
needed at run time.
"""
