"""The served model of the test project: y = 2x, or broken on purpose (behaviour "broken"; "flaky-in-prod"
fails one request in five in prod).

The build packs this file as ``serving/handler.py`` of the zip, next to ``settings.json``
(model name, version, behaviour); the function's own ENVIRONMENT says stage or prod.
"""

import json
import os

with open(os.path.join(os.path.dirname(__file__), "settings.json")) as _file:
    SETTINGS = json.load(_file)


def handler(event, context):
    behaviour = SETTINGS.get("behaviour")
    if behaviour == "broken" or (behaviour == "broken-in-prod" and os.environ.get("ENVIRONMENT") == "prod"):
        raise RuntimeError("model file is corrupt")
    rows = event["inputs"]
    # One request in five fails in prod (by its input, so the smoke test's x = 1, 2 passes).
    prod = os.environ.get("ENVIRONMENT") == "prod"
    if behaviour == "flaky-in-prod" and prod and any(int(row["x"]) % 5 == 0 for row in rows):
        raise RuntimeError("flaky model: failed on this input")
    return {
        "predictions": [2.0 * row["x"] for row in rows],
        "model_name": SETTINGS["model_name"],
        "model_version": SETTINGS["model_version"],
    }
