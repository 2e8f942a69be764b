"""LambdaDeployer against moto: three accounts, deploy role assumed through STS, zip code from the tooling bucket."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_moto_env import (
    FUNCTION,
    PROD,
    REGION,
    STAGE,
    ClientFactory,
    handler_zip,
    image_artifact,
    make_target_account,
    upload_zip,
)
from botocore.exceptions import ClientError
from moto.moto_api._internal.models import moto_api_backend

from mlops_pipeline.adapters.aws.lambda_deployer import LambdaDeployer
from mlops_pipeline.config import DeployTarget, ModelFunction
from mlops_pipeline.domain.errors import DeploymentError, InvokeError
from mlops_pipeline.domain.models import Artifact

pytestmark = pytest.mark.functional


def deployer(role_arn: str, sts: Any, environment: str = "stage", function: str = FUNCTION) -> LambdaDeployer:
    fn = ModelFunction("ships", function)
    target = DeployTarget(environment=environment, role_arn=role_arn, functions={"ships": fn})
    return LambdaDeployer.for_target(
        target, fn, "arn:aws:states:us-east-1:111111111111:execution:p:e 1", sts_client=sts
    )


def alias_version(client_in: ClientFactory, account: str, alias: str = "live") -> str | None:
    try:
        return str(
            client_in("lambda", account).get_alias(FunctionName=FUNCTION, Name=alias)["FunctionVersion"]
        )
    except ClientError:
        return None


def test_first_deploy_creates_alias_in_the_target_account_only(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    assert stage.current_version() is None
    artifact = upload_zip(client_in, "v1")

    result = stage.deploy(artifact)

    assert result.previous_version is None
    assert result.new_version == "1"
    assert result.alias == "live"
    assert result.function_name == FUNCTION
    assert stage.current_version() == "1"
    assert alias_version(client_in, STAGE) == "1"
    # Prod's function of the same name was not touched.
    assert alias_version(client_in, PROD) is None
    # Version 1 runs exactly the zip the build uploaded (Lambda reports its sha256 in base64).
    config = client_in("lambda", STAGE).get_function(FunctionName=FUNCTION, Qualifier="1")["Configuration"]
    assert config["CodeSha256"] == artifact.lambda_code_sha256 == result.code_sha256


def test_deployer_acts_in_the_assumed_account(accounts: dict[str, str], tooling_sts: Any) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    identity = stage._lambda.get_function_configuration(FunctionName=FUNCTION)
    assert f":{STAGE}:function:" in identity["FunctionArn"]


def test_stage_deployer_cannot_see_a_prod_only_function(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    iam = client_in("iam", PROD)
    role = iam.get_role(RoleName="inference-exec")["Role"]["Arn"]
    client_in("lambda", PROD).create_function(
        FunctionName="prod-only",
        Role=role,
        Runtime="python3.12",
        Handler="serving.handler.handler",
        Code={"ZipFile": handler_zip("p")},
    )
    stage = deployer(accounts["stage"], tooling_sts, function="prod-only")
    with pytest.raises(DeploymentError, match="does not exist"):
        stage.deploy(upload_zip(client_in, "v1"))
    with pytest.raises(DeploymentError, match="does not exist"):
        stage.current_version()


def test_second_deploy_reports_previous_and_new(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    prod = deployer(accounts["prod"], tooling_sts, environment="prod")
    first = prod.deploy(upload_zip(client_in, "v1"))
    second = prod.deploy(upload_zip(client_in, "v2"))

    assert (first.previous_version, first.new_version) == (None, "1")
    assert (second.previous_version, second.new_version) == ("1", "2")
    assert second.code_sha256 != first.code_sha256
    assert alias_version(client_in, PROD) == "2"
    assert alias_version(client_in, STAGE) is None


def _fail_code_updates(lambda_client: Any, reason: str) -> list[str]:
    """Make GetFunction report the last update as Failed (what the waiter polls)."""
    seen: list[str] = []

    def rewrite(parsed: dict[str, Any], **_: Any) -> None:
        config = parsed.get("Configuration")
        if config is not None:
            config["LastUpdateStatus"] = "Failed"
            config["LastUpdateStatusReason"] = reason
            seen.append("GetFunction")

    lambda_client.meta.events.register("after-call.lambda.GetFunction", rewrite)
    return seen


def test_failed_code_update_leaves_alias_untouched(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))
    seen = _fail_code_updates(stage._lambda, "InvalidZipFile: could not unzip the package")

    with pytest.raises(DeploymentError, match="InvalidZipFile: could not unzip the package"):
        stage.deploy(upload_zip(client_in, "v2"))

    assert seen, "the waiter never polled GetFunction"
    assert alias_version(client_in, STAGE) == "1"
    versions = client_in("lambda", STAGE).list_versions_by_function(FunctionName=FUNCTION)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]  # nothing was published


def test_update_that_never_finishes_is_a_deployment_error(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    fn = ModelFunction("ships", FUNCTION)
    target = DeployTarget(environment="stage", role_arn=accounts["stage"], functions={"ships": fn})
    stage = LambdaDeployer.for_target(target, fn, "s", sts_client=tooling_sts)
    stage._waiter_config = {"Delay": 1, "MaxAttempts": 2}

    def in_progress(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Configuration"]["LastUpdateStatus"] = "InProgress"

    stage._lambda.meta.events.register("after-call.lambda.GetFunction", in_progress)
    with pytest.raises(DeploymentError, match="did not finish"):
        stage.deploy(upload_zip(client_in, "v1"))
    assert alias_version(client_in, STAGE) is None


def test_deploy_to_missing_function_is_a_readable_error(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    missing = deployer(accounts["stage"], tooling_sts, function="no-such-function")
    with pytest.raises(DeploymentError, match="no-such-function does not exist"):
        missing.deploy(upload_zip(client_in, "v1"))


def test_code_that_is_not_the_artifacts_bytes_is_never_published(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))
    real = upload_zip(client_in, "v2")
    # The build recorded other bytes than the object holds (a tampered or re-written upload).
    forged = Artifact(real.kind, real.uri, "0" * 64)
    with pytest.raises(DeploymentError, match="not the artifact's"):
        stage.deploy(forged)
    assert alias_version(client_in, STAGE) == "1"
    versions = client_in("lambda", STAGE).list_versions_by_function(FunctionName=FUNCTION)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_an_artifact_the_function_cannot_run_is_refused_before_any_change(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    before = client_in("lambda", STAGE).get_function_configuration(FunctionName=FUNCTION)["CodeSha256"]
    with pytest.raises(DeploymentError, match="is a Zip function and cannot run the image artifact"):
        stage.deploy(image_artifact("churn-1"))
    assert (
        client_in("lambda", STAGE).get_function_configuration(FunctionName=FUNCTION)["CodeSha256"] == before
    )
    assert stage.current_version() is None


def test_image_artifact_goes_to_an_image_function(tooling_sts: Any, client_in: ClientFactory) -> None:
    role = make_target_account(client_in, STAGE, function_name="image-fn", package_type="Image")
    stage = deployer(role, tooling_sts, function="image-fn")
    result = stage.deploy(image_artifact("churn-1"))
    assert (result.previous_version, result.new_version) == (None, "1")
    code = client_in("lambda", STAGE).get_function(FunctionName="image-fn", Qualifier="1")["Code"]
    assert code["ImageUri"] == image_artifact("churn-1").uri
    with pytest.raises(DeploymentError, match="is a Image function and cannot run the zip artifact"):
        stage.deploy(upload_zip(client_in, "v1"))


def test_alias_moved_by_someone_else_is_not_overwritten(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))

    # moto ignores RevisionId, so make the service answer as AWS does on a stale revision.
    def precondition_failed(**_: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "PreconditionFailedException", "Message": "wrong RevisionId"}}, "UpdateAlias"
        )

    sent: list[dict[str, Any]] = []
    stage._lambda.meta.events.register(
        "provide-client-params.lambda.UpdateAlias", lambda params, **_: sent.append(dict(params))
    )
    stage._lambda.meta.events.register("before-call.lambda.UpdateAlias", precondition_failed)
    with pytest.raises(DeploymentError, match="changed by someone else"):
        stage.deploy(upload_zip(client_in, "v2"))
    assert sent and sent[0]["RevisionId"]
    assert alias_version(client_in, STAGE) == "1"


def test_rollback_moves_alias_back(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))
    stage.deploy(upload_zip(client_in, "v2"))

    stage.rollback("1")

    assert stage.current_version() == "1"
    assert alias_version(client_in, STAGE) == "1"


def test_rollback_refuses_latest(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))
    with pytest.raises(DeploymentError, match="published version number"):
        stage.rollback("$LATEST")
    assert alias_version(client_in, STAGE) == "1"


def test_rollback_to_unknown_version_is_refused(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))
    with pytest.raises(DeploymentError, match=r"version 7 of .* does not exist"):
        stage.rollback("7")
    assert alias_version(client_in, STAGE) == "1"


def test_invoke_alias_returns_parsed_payload_and_latency(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))
    # moto without Docker answers from a queue of canned results (per account).
    moto_api_backend.set_lambda_simple_result(
        json.dumps({"predictions": [1.5]}), account_id=STAGE, region=REGION
    )

    result = stage.invoke_alias({"columns": ["a"], "data": [[1]]})

    assert result.status_code == 200
    assert result.function_error is None
    assert result.payload == {"predictions": [1.5]}
    assert result.latency_ms > 0


def test_invoke_alias_sends_the_payload_as_json(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))
    sent: list[Any] = []
    stage._lambda.meta.events.register(
        "provide-client-params.lambda.Invoke", lambda params, **_: sent.append(dict(params))
    )
    # With an empty queue moto echoes the request body back.
    result = stage.invoke_alias({"inputs": {"x": [1, 2]}})
    assert result.payload == {"inputs": {"x": [1, 2]}}
    # The alias rides in the name ("fn:live"), which AWS and every emulator resolve alike.
    assert sent[0]["FunctionName"] == f"{FUNCTION}:live"
    assert "Qualifier" not in sent[0]
    assert sent[0]["InvocationType"] == "RequestResponse"


def test_invoke_alias_non_json_payload_is_returned_as_text(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))
    moto_api_backend.set_lambda_simple_result("not json", account_id=STAGE, region=REGION)
    assert stage.invoke_alias({}).payload == "not json"


def test_service_refusing_the_invoke_is_an_invoke_error(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))

    # moto without Docker never refuses an invoke; answer as the service does when throttling.
    def throttled(**_: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke"
        )

    stage._lambda.meta.events.register("before-call.lambda.Invoke", throttled)
    with pytest.raises(InvokeError, match=f"{FUNCTION}:live failed: TooManyRequestsException: Rate exceeded"):
        stage.invoke_alias({})


def test_the_hook_runs_once_the_version_is_published_and_before_the_alias_moves(
    accounts: dict[str, str], tooling_sts: Any, client_in: ClientFactory
) -> None:
    stage = deployer(accounts["stage"], tooling_sts)
    stage.deploy(upload_zip(client_in, "v1"))
    seen: list[tuple[str | None, str, str | None]] = []

    def refuse(previous: str | None, new: str) -> None:
        seen.append((previous, new, alias_version(client_in, STAGE)))
        raise RuntimeError("the intent could not be recorded")

    with pytest.raises(RuntimeError, match="intent"):
        stage.deploy(upload_zip(client_in, "v2"), before_alias_move=refuse)
    assert seen == [("1", "2", "1")]  # v2 published, live still on v1 while the hook ran
    assert alias_version(client_in, STAGE) == "1"  # and after it refused

    result = stage.deploy(
        upload_zip(client_in, "v3"), before_alias_move=lambda p, n: seen.append((p, n, None))
    )
    assert (
        seen[-1] == ("1", result.new_version, None) and alias_version(client_in, STAGE) == result.new_version
    )
