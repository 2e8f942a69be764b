"""Train the delivery-time model and log it to MLflow.

Predicts a ship's delivery time in days from the coordinates of its load and delivery
ports. Most shipments travel one of a few dozen routes, and the spread of delivery times
on a single route is wide, so the model is "the average delivery time of the nearest known
route": a 1-nearest-neighbour regressor fitted on per-route means of the training split.
Metrics (MAE, RMSE, R2) are measured on a held-out split that the model never saw.

Run it against your own MLflow:  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python train.py
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import skops.io
from mlflow.models import infer_signature
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsRegressor

HERE = Path(__file__).resolve().parent
FEATURES = ["PORT_LOAD_LAT", "PORT_LOAD_LONG", "PORT_DEL_LAT", "PORT_DEL_LONG"]
TARGET = "DELIVERY_TIME_DAYS"


def load_data(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(path, index_col=0)
    return frame[FEATURES].astype("float64"), frame[TARGET].astype("float64")


def route_means(features: pd.DataFrame, target: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """One row per route with its mean delivery time (removes exact duplicates)."""
    grouped = features.assign(**{TARGET: target}).groupby(FEATURES, as_index=False)[TARGET].mean()
    return grouped[FEATURES], grouped[TARGET]


def trusted_types(model: object) -> list[str]:
    """The types skops does not trust by default that this freshly trained model holds."""
    return skops.io.get_untrusted_types(data=skops.io.dumps(model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("DATA_PATH", HERE / "data/data.csv"))
    )
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--neighbors", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    features, target = load_data(args.data)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=args.test_size, random_state=args.seed
    )
    x_routes, y_routes = route_means(x_train, y_train)
    model = KNeighborsRegressor(n_neighbors=args.neighbors)

    # MLFLOW_RUN_ID (set by the pipeline) makes start_run resume that run.
    with mlflow.start_run():
        mlflow.log_params(
            {
                "model": "KNeighborsRegressor",
                "n_neighbors": args.neighbors,
                "training": "per-route mean",
                "test_size": args.test_size,
                "seed": args.seed,
                "train_rows": len(x_train),
                "train_routes": len(x_routes),
            }
        )
        model.fit(x_routes, y_routes)
        predicted = model.predict(x_test)
        baseline = np.full_like(y_test.to_numpy(), y_train.mean())
        metrics = {
            "mae": mean_absolute_error(y_test, predicted),
            "rmse": float(np.sqrt(mean_squared_error(y_test, predicted))),
            "r2": r2_score(y_test, predicted),
            "baseline_mae": mean_absolute_error(y_test, baseline),
        }
        mlflow.log_metrics(metrics)
        example = x_test.head(3)
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            # MLflow saves the model with skops and loads it back at once, trusting only the
            # types named here: this run's own model's, whatever the estimator. (The pipeline
            # does not read this list; it serves with its own fixed allow-list.)
            skops_trusted_types=trusted_types(model),
        )
        print("metrics: " + ", ".join(f"{key}={value:.3f}" for key, value in metrics.items()))


if __name__ == "__main__":
    main()
