"""The ModelRegistry port on the MLflow client (aliases only, never stages).

Only ``mlflow.MlflowClient``, ``mlflow.exceptions``, ``mlflow.environment_variables`` and
``mlflow.utils.validation`` are used: all ship in ``mlflow-skinny``, which is what the
pipeline Lambdas carry. Every name that ends up in a search filter is validated against a
conservative pattern first, so no filter string is ever built from unchecked text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from mlops_pipeline import config
from mlops_pipeline.domain.errors import (
    ConfigError,
    InvalidRegistryInputError,
    ModelNotFoundError,
    RegistryAuthenticationError,
    RegistryError,
)
from mlops_pipeline.domain.models import ModelVersionInfo

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

PRODUCTION_ALIAS = "production"
STAGING_ALIAS = "staging"

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
CREDENTIALS_SECRET_ENV = "MLFLOW_CREDENTIALS_SECRET_ARN"  # noqa: S105 - a variable name, not a secret
# The variables the MLflow client reads for HTTP basic auth
# (mlflow.environment_variables.MLFLOW_TRACKING_USERNAME / _PASSWORD).
USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"  # noqa: S105 - a variable name
# The variables the MLflow client reads for its HTTP retries and per-request timeout.
HTTP_BOUND_ENVS = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")

# Conservative on purpose: these strings are interpolated into MLflow search filters.
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
COMMIT_PATTERN = re.compile(r"[0-9a-fA-F]{4,64}")
VERSION_PATTERN = re.compile(r"[1-9][0-9]{0,9}")
# MLflow aliases are [\w-]+; "latest" and "v<digits>" are reserved by MLflow.
ALIAS_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
TAG_KEY_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,249}")
# MLflow's limit for model version tag values (mlflow.utils.validation); kept as a fallback.
_DEFAULT_TAG_VALUE_LIMIT = 100_000

_NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
_INVALID_PARAMETER = "INVALID_PARAMETER_VALUE"
_AUTH_CODES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})
_SEARCH_PAGE = 200


def tag_value_limit() -> int:
    """MLflow's maximum length of a model version tag value."""
    try:
        from mlflow.utils.validation import MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH
    except ImportError:  # pragma: no cover - older/newer MLflow layouts
        return _DEFAULT_TAG_VALUE_LIMIT
    return int(MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH)


def validate_model_name(name: str) -> str:
    """Return ``name`` if it matches :data:`MODEL_NAME_PATTERN`, else InvalidRegistryInputError."""
    if not isinstance(name, str) or not MODEL_NAME_PATTERN.fullmatch(name):
        raise InvalidRegistryInputError(
            f"invalid model name {name!r}: use 1-128 characters of letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return name


def validate_commit(commit: str) -> str:
    """Return the commit id in lower case if it is 4-64 hex characters, else InvalidRegistryInputError."""
    if not isinstance(commit, str) or not COMMIT_PATTERN.fullmatch(commit):
        raise InvalidRegistryInputError(f"invalid commit id {commit!r}: expected 4-64 hexadecimal characters")
    # git prints ids in lower case and the build tags them that way.
    return commit.lower()


def validate_version(version: str | int) -> str:
    """Return the version as a string if it is a positive integer, else InvalidRegistryInputError."""
    text = str(version) if isinstance(version, int) and not isinstance(version, bool) else version
    if not isinstance(text, str) or not VERSION_PATTERN.fullmatch(text):
        raise InvalidRegistryInputError(f"invalid model version {version!r}: expected a positive integer")
    return text


def validate_alias(alias: str) -> str:
    """Return ``alias`` if MLflow would accept it and it is not reserved, else InvalidRegistryInputError."""
    if not isinstance(alias, str) or not ALIAS_PATTERN.fullmatch(alias):
        raise InvalidRegistryInputError(
            f"invalid alias {alias!r}: use 1-63 characters of letters, digits, '_', '-', starting with a letter"
        )
    if alias.lower() == "latest" or re.fullmatch(r"[vV][0-9]+", alias):
        raise InvalidRegistryInputError(
            f"invalid alias {alias!r}: 'latest' and 'v<number>' are reserved by MLflow"
        )
    return alias


def validate_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Stringify tag values and check keys and value lengths; InvalidRegistryInputError on the first bad one."""
    limit = tag_value_limit()
    checked: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not TAG_KEY_PATTERN.fullmatch(key):
            raise InvalidRegistryInputError(
                f"invalid tag key {key!r}: use 1-250 characters of letters, digits, '_', '.', '-', '/'"
            )
        if value is None:
            raise InvalidRegistryInputError(f"tag {key!r} has no value (None)")
        text = value if isinstance(value, str) else str(value)
        if len(text) > limit:
            raise InvalidRegistryInputError(
                f"tag {key!r} is {len(text)} characters long; MLflow stores at most {limit} per tag value"
            )
        checked[key] = text
    return checked


def _error_code(exc: Exception) -> str | None:
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else None


def _raise_translated(exc: Exception, action: str) -> NoReturn:
    """Raise the pipeline error for an MLflow failure (auth errors get their own class)."""
    message = getattr(exc, "message", None) or str(exc)
    code = _error_code(exc)
    # Behind a proxy the body may not be MLflow JSON: then only the HTTP status tells.
    if code in _AUTH_CODES or re.search(r"error code 40[13]\b", message):
        raise RegistryAuthenticationError(
            f"{action}: MLflow refused the request ({code or 'HTTP error'}); check the pipeline's MLflow user "
            f"({USERNAME_ENV}/{PASSWORD_ENV}) and its permissions. Detail: {message[:500]}"
        ) from exc
    raise RegistryError(f"{action}: {message[:1000]}") from exc


class MlflowRegistry:
    """ModelRegistry on an MLflow tracking server (``MlflowClient``)."""

    def __init__(self, tracking_uri: str | None = None, client: MlflowClient | None = None) -> None:
        if client is None:
            from mlflow import MlflowClient

            # The registry lives on the same server as tracking (never Databricks UC here).
            client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._client = client

    @property
    def client(self) -> MlflowClient:
        return self._client

    # -- reads ----------------------------------------------------------------------------

    def find_version_by_commit(self, model_name: str, commit: str) -> ModelVersionInfo | None:
        """The highest version of ``model_name`` tagged ``git_commit=<commit>``, or None."""
        from mlflow.exceptions import MlflowException

        name = validate_model_name(model_name)
        sha = validate_commit(commit)
        # Both values matched strict patterns above: no quote or operator can reach the filter.
        filter_string = f"name = '{name}' AND tags.git_commit = '{sha}'"
        versions: list[str] = []
        page_token: str | None = None
        try:
            while True:
                page = self._client.search_model_versions(
                    filter_string=filter_string, max_results=_SEARCH_PAGE, page_token=page_token
                )
                versions.extend(str(mv.version) for mv in page)
                page_token = page.token
                if not page_token:
                    break
        except MlflowException as exc:
            _raise_translated(exc, f"searching versions of {name!r} for commit {sha}")
        if not versions:
            return None
        return self.get_version(name, max(versions, key=int))

    def get_version(self, model_name: str, version: str) -> ModelVersionInfo:
        """The version with its tags, aliases and its run's metrics; ModelNotFoundError if absent."""
        from mlflow.exceptions import MlflowException

        name = validate_model_name(model_name)
        number = validate_version(version)
        try:
            mv = self._client.get_model_version(name, number)
        except MlflowException as exc:
            if _error_code(exc) == _NOT_FOUND:
                raise ModelNotFoundError(f"model {name!r} has no version {number}") from exc
            _raise_translated(exc, f"reading {name!r} version {number}")
        return self._to_info(mv)

    def get_by_alias(self, model_name: str, alias: str) -> ModelVersionInfo | None:
        """The version behind ``alias``; None if the model or the alias does not exist."""
        from mlflow.exceptions import MlflowException

        name = validate_model_name(model_name)
        alias = validate_alias(alias)
        try:
            mv = self._client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if self._is_missing_alias(exc, alias):
                return None
            _raise_translated(exc, f"reading alias {alias!r} of {name!r}")
        return self._to_info(mv)

    def get_champion(self, model_name: str) -> ModelVersionInfo | None:
        """The version behind alias ``production`` or None for a first model."""
        return self.get_by_alias(model_name, PRODUCTION_ALIAS)

    # -- writes ---------------------------------------------------------------------------

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (moving it away from any other version)."""
        from mlflow.exceptions import MlflowException

        name = validate_model_name(model_name)
        alias = validate_alias(alias)
        number = validate_version(version)
        try:
            self._client.set_registered_model_alias(name, alias, number)
        except MlflowException as exc:
            if _error_code(exc) == _NOT_FOUND:
                raise ModelNotFoundError(f"model {name!r} has no version {number}") from exc
            _raise_translated(exc, f"setting alias {alias!r} of {name!r} to version {number}")

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, Any]) -> None:
        """Set version tags (values stringified); all tags are validated before the first write."""
        from mlflow.exceptions import MlflowException

        name = validate_model_name(model_name)
        number = validate_version(version)
        checked = validate_tags(tags)
        for key, value in checked.items():
            try:
                self._client.set_model_version_tag(name, number, key, value)
            except MlflowException as exc:
                if _error_code(exc) == _NOT_FOUND:
                    raise ModelNotFoundError(f"model {name!r} has no version {number}") from exc
                _raise_translated(exc, f"setting tag {key!r} on {name!r} version {number}")

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _is_missing_alias(exc: Exception, alias: str) -> bool:
        code = _error_code(exc)
        if code == _NOT_FOUND:  # the registered model does not exist
            return True
        # MLflow reports an unknown alias as INVALID_PARAMETER_VALUE "Registered model alias X
        # not found."; the alias itself was validated, so that code means "absent" only with
        # that message.
        message = (getattr(exc, "message", None) or str(exc)).lower()
        return code == _INVALID_PARAMETER and "alias" in message and "not found" in message

    def _to_info(self, mv: ModelVersion) -> ModelVersionInfo:
        from mlflow.exceptions import MlflowException

        metrics: dict[str, float] = {}
        run_id = mv.run_id or None
        if run_id:
            try:
                run = self._client.get_run(run_id)
            except MlflowException as exc:
                # A deleted run leaves the version without metrics; the gate reports the
                # missing metric. Anything else is a real failure.
                if _error_code(exc) != _NOT_FOUND:
                    _raise_translated(exc, f"reading run {run_id} of {mv.name!r} version {mv.version}")
            else:
                metrics = {str(k): float(v) for k, v in run.data.metrics.items()}
        return ModelVersionInfo(
            name=str(mv.name),
            version=str(mv.version),
            run_id=run_id,
            source=mv.source or None,
            tags={str(k): str(v) for k, v in (mv.tags or {}).items()},
            metrics=metrics,
            aliases=tuple(sorted(mv.aliases or ())),
        )


def configure_credentials(username: str, password: str) -> None:
    """Set the basic-auth credentials the MLflow client sends (process environment)."""
    if not username or not password:
        raise ConfigError("MLflow credentials need a non-empty username and password")
    os.environ[USERNAME_ENV] = username
    os.environ[PASSWORD_ENV] = password


def configure_http_bounds(environ: Mapping[str, str] | None = None) -> None:
    """Bound the MLflow client's HTTP retries and timeout (it reads them from the process environment).

    Its own defaults (7 retries with backoff) can outlive a Lambda's timeout; the pipeline's
    documented settings (:data:`HTTP_BOUND_ENVS`) apply unless the process already sets them.
    """
    for name in HTTP_BOUND_ENVS:
        os.environ.setdefault(name, config.get(name, environ))


def from_environment(
    secret_reader: Callable[[str], Mapping[str, str]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> MlflowRegistry:
    """Build the registry from ``MLFLOW_TRACKING_URI`` (+ the credentials secret when its ARN is set).

    Also bounds the client's HTTP retries and timeout (:func:`configure_http_bounds`).
    """
    configure_http_bounds(environ)
    # Both are documented settings (mlops_pipeline.config); the URI is required.
    tracking_uri = config.get(TRACKING_URI_ENV, environ).strip()
    secret_arn = config.get(CREDENTIALS_SECRET_ENV, environ).strip()
    if not tracking_uri:
        raise ConfigError(f"{TRACKING_URI_ENV} is blank")
    if secret_arn:
        if secret_reader is None:
            raise ConfigError(f"{CREDENTIALS_SECRET_ENV} is set but no secret reader was given")
        secret = secret_reader(secret_arn)
        username = secret.get("username") if isinstance(secret, Mapping) else None
        password = secret.get("password") if isinstance(secret, Mapping) else None
        if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
            # Never echo the secret's content.
            raise ConfigError(
                f"secret {secret_arn} must hold a JSON object with non-empty 'username' and 'password'"
            )
        configure_credentials(username, password)
    return MlflowRegistry(tracking_uri=tracking_uri)
