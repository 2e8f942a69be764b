"""JSON secrets from Secrets Manager through Powertools Parameters (cached).

Secret values never appear in an exception or a log line: errors name the secret and
the missing keys only, and the original exception (whose text or attributes could hold
the document) is not chained.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from mlops_pipeline.domain.errors import ConfigError


def get_json_secret(
    secret_id: str,
    max_age: int = 300,
    require: Iterable[str] = (),
    provider: parameters.SecretsProvider | None = None,
) -> dict[str, str]:
    """The secret's JSON object as ``{key: string}``, cached for ``max_age`` seconds.

    ``require`` lists keys that must be present and non-empty, e.g.
    ``("bot_token", "signing_secret")``. ``provider`` replaces Powertools' default
    (module-wide cached) provider, e.g. one built with an injected boto3 client.
    """
    if not secret_id:
        raise ConfigError("no secret id given (is the *_SECRET_ARN setting empty?)")
    problem: str | None = None
    value: Any = None
    try:
        if provider is None:
            value = parameters.get_secret(secret_id, transform="json", max_age=max_age)
        else:
            value = provider.get(secret_id, transform="json", max_age=max_age)
    except TransformParameterError:
        problem = f"secret {secret_id} is not valid JSON"
    except GetParameterError as exc:
        # The message is the service's (e.g. ResourceNotFoundException), which holds no value.
        problem = f"cannot read secret {secret_id}: {_service_reason(exc)}"
    if problem is not None:
        # Raised outside the except blocks so no exception with the document is chained.
        raise ConfigError(problem)

    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret_id} must be a JSON object, not {type(value).__name__}")
    not_text = sorted(str(k) for k, v in value.items() if not isinstance(v, str))
    if not_text:
        raise ConfigError(f"secret {secret_id}: values of {not_text} must be strings")
    missing = sorted(k for k in require if not value.get(k))
    if missing:
        raise ConfigError(f"secret {secret_id} lacks the keys {missing} (present: {sorted(value)})")
    return {str(k): v for k, v in value.items()}


def _service_reason(exc: GetParameterError) -> str:
    cause = exc.__cause__ or exc.__context__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return "the service refused the request"
