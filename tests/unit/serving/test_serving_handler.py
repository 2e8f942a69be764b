"""The handler's request/response translation, with a real exported model and hypothesis events."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsRegressor

from mlops_pipeline.model_build.export import export_onnx, export_skops
from mlops_pipeline.serving.handler import Service
from mlops_pipeline.serving.runtime import ModelLoadError, load_model

COLUMNS = ("x1", "x2")
RNG = np.random.default_rng(7)
X = RNG.normal(size=(40, 2))


@pytest.fixture(scope="module")
def regressor_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = KNeighborsRegressor(n_neighbors=1).fit(X, X[:, 0] * 3 + X[:, 1])
    out = tmp_path_factory.mktemp("reg")
    export_onnx(model, COLUMNS, out, max_rows=5)
    return out


@pytest.fixture(scope="module")
def service(regressor_dir: Path) -> Service:
    return Service(load_model(regressor_dir), "m", "7", max_body_bytes=2000)


def test_direct_invoke_returns_predictions_per_row(service: Service) -> None:
    rows = X[:3].tolist()
    answer = service({"columns": list(COLUMNS), "data": rows})
    assert answer["statusCode"] == 200
    assert (answer["model_name"], answer["model_version"]) == ("m", "7")
    np.testing.assert_allclose(answer["predictions"], X[:3, 0] * 3 + X[:3, 1])


def test_http_proxy_event_is_answered_as_http(service: Service) -> None:
    body = json.dumps({"inputs": {"x1": float(X[0, 0]), "x2": float(X[0, 1])}})
    answer = service(
        {
            "version": "2.0",
            "routeKey": "$default",
            "requestContext": {"http": {"method": "POST"}},
            "body": base64.b64encode(body.encode()).decode(),
            "isBase64Encoded": True,
        }
    )
    assert answer["statusCode"] == 200
    assert answer["headers"]["content-type"] == "application/json"
    payload = json.loads(answer["body"])
    assert payload["predictions"] == pytest.approx([X[0, 0] * 3 + X[0, 1]])


@pytest.mark.parametrize(
    ("event", "status", "field"),
    [
        ({"requestContext": {"http": {"method": "POST"}}, "body": "{not json"}, 400, "body"),
        ({"requestContext": {"http": {"method": "POST"}}, "body": ""}, 400, "body"),
        ({"requestContext": {"http": {"method": "POST"}}, "body": "x" * 2001}, 400, "body"),
        (
            {"requestContext": {"http": {"method": "POST"}}, "body": "!!", "isBase64Encoded": True},
            400,
            "body",
        ),
        (
            {"requestContext": {"http": {"method": "POST"}}, "body": '{"inputs": {"x1": NaN, "x2": 1}}'},
            400,
            "x1",
        ),
        ({"httpMethod": "GET", "body": None}, 405, None),
    ],
)
def test_bad_http_requests_get_a_clear_error(
    service: Service, event: dict[str, Any], status: int, field: str | None
) -> None:
    answer = service(event)
    assert answer["statusCode"] == status
    payload = json.loads(answer["body"])
    assert payload["statusCode"] == status
    assert payload["error"]["field"] == field
    assert "Traceback" not in answer["body"]


def test_oversized_batch_is_refused(service: Service) -> None:
    answer = service({"columns": list(COLUMNS), "data": [[0.0, 0.0]] * 6})
    assert answer["statusCode"] == 400
    assert "limit of 5" in answer["error"]["message"]


def test_internal_failure_is_a_500_without_details(regressor_dir: Path) -> None:
    class Broken:
        manifest = load_model(regressor_dir).manifest

        def predict(self, rows: np.ndarray) -> Any:
            raise RuntimeError("secret internals")

    answer = Service(Broken(), "m", "1")({"inputs": {"x1": 1, "x2": 2}})
    assert answer["statusCode"] == 500
    assert "secret" not in json.dumps(answer)


def test_classifier_answers_labels_and_probabilities(tmp_path: Path) -> None:
    labels = np.where(X[:, 0] > 0, "yes", "no")
    model = LogisticRegression().fit(X, labels)
    export_onnx(model, COLUMNS, tmp_path, max_rows=100)
    answer = Service(load_model(tmp_path), "c", "1")({"columns": list(COLUMNS), "data": X[:4].tolist()})
    assert answer["predictions"] == model.predict(X[:4]).tolist()
    assert answer["classes"] == ["no", "yes"]
    np.testing.assert_allclose(answer["probabilities"], model.predict_proba(X[:4]), rtol=1e-5, atol=1e-6)


def test_skops_flavour_loads_only_its_trusted_types(tmp_path: Path) -> None:
    model = KNeighborsRegressor(n_neighbors=2).fit(X, X[:, 0])
    manifest = export_skops(model, COLUMNS, tmp_path, max_rows=10)
    assert manifest.trusted_types  # KNN holds a KDTree, which skops does not trust by default
    answer = Service(load_model(tmp_path), "s", "1")({"columns": list(COLUMNS), "data": X[:3].tolist()})
    np.testing.assert_allclose(answer["predictions"], model.predict(X[:3]))
    # Without the recorded list the file must not load.
    manifest_file = tmp_path / "serving.json"
    data = json.loads(manifest_file.read_text())
    data["trusted_types"] = []
    manifest_file.write_text(json.dumps(data))
    with pytest.raises(Exception, match=r"[Uu]ntrusted"):
        load_model(tmp_path)


def test_unknown_flavour_is_refused(tmp_path: Path) -> None:
    (tmp_path / "serving.json").write_text(
        json.dumps({"flavor": "pickle", "file": "m.pkl", "columns": ["a"]})
    )
    (tmp_path / "m.pkl").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="unknown serving flavour"):
        load_model(tmp_path)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["x1", "x2", "x3", "inputs", "columns", "data", "body"]) | st.text(max_size=4),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
# Events that look like requests but are wrong somewhere: a missing/extra column, a bad value type,
# bad shapes, arbitrary JSON, or an HTTP proxy event wrapping any of those as a string body.
bad_values = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.just(float("nan")),
    st.just(float("inf")),
    st.lists(json_scalars, max_size=2),
    st.dictionaries(st.text(max_size=2), json_scalars, max_size=2),
)
malformed_bodies = st.one_of(
    json_values.filter(lambda v: not isinstance(v, dict) or ("inputs" not in v and "columns" not in v)),
    st.fixed_dictionaries({"inputs": st.fixed_dictionaries({"x1": bad_values, "x2": st.floats(-5, 5)})}),
    st.fixed_dictionaries(
        {"inputs": st.dictionaries(st.sampled_from(["x1", "x3"]), st.floats(-5, 5), max_size=2)}
    ),
    st.fixed_dictionaries({"inputs": st.lists(json_values, min_size=1, max_size=3)}).filter(
        lambda v: not all(isinstance(r, dict) and set(r) == {"x1", "x2"} for r in v["inputs"])
    ),
    st.fixed_dictionaries({"columns": json_values, "data": json_values}).filter(
        lambda v: v["columns"] != ["x1", "x2"] and v["columns"] != ["x2", "x1"]
    ),
    st.fixed_dictionaries(
        {
            "columns": st.just(["x1", "x2"]),
            "data": st.lists(st.lists(bad_values, min_size=1, max_size=3), max_size=3),
        }
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=malformed_bodies, as_http=st.booleans())
def test_malformed_events_always_get_a_400_body_and_never_raise(
    service: Service, body: Any, as_http: bool
) -> None:
    if as_http:
        answer = service({"requestContext": {"http": {"method": "POST"}}, "body": json.dumps(body)})
        payload = json.loads(answer["body"])
    else:
        answer = payload = service(body)
    assert answer["statusCode"] == 400, payload
    assert payload["error"]["type"] == "InvalidInput"
    assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]
