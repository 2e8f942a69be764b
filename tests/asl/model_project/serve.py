"""The served model of the test project: y = 2x, or broken on purpose (BEHAVIOUR=broken)."""

import os


def handler(event, context):
    if os.environ.get("BEHAVIOUR") == "broken" or (
        os.environ.get("BEHAVIOUR") == "broken-in-prod" and os.environ.get("ENVIRONMENT") == "prod"
    ):
        raise RuntimeError("model file is corrupt")
    rows = event["inputs"]
    return {
        "predictions": [2.0 * row["x"] for row in rows],
        "model_name": os.environ["MODEL_NAME"],
        "model_version": os.environ["MODEL_VERSION"],
    }
