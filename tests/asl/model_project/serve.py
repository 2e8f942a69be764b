"""The served model of the test project: y = 2x, or broken on purpose (behaviour "broken").

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
    return {
        "predictions": [2.0 * row["x"] for row in rows],
        "model_name": SETTINGS["model_name"],
        "model_version": SETTINGS["model_version"],
    }
