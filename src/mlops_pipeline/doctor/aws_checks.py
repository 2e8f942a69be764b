"""AWS checks: the tooling credentials, the stage/prod roles, and the region's services.

Every call here is a read (``sts:GetCallerIdentity``, ``sts:AssumeRole``, ``iam:GetRole``,
``codecommit:GetRepository``, ``ec2:DescribeAvailabilityZones``, ``apigateway:GET`` of the VPC
links); nothing is created or changed.
Clients come from a :class:`ClientFactory`, so tests hand in clients of the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mlops_pipeline.doctor.inputs import ACCOUNT_ID, DoctorInputs
from mlops_pipeline.doctor.result import CheckResult, failed, passed, skipped, warned

# AWS Chatbot API Reference, "Welcome": "AWS Chatbot APIs are currently available in the following
# Regions" (https://docs.aws.amazon.com/chatbot/latest/APIReference/Welcome.html); the Terraform
# resource aws_chatbot_slack_channel_configuration calls that API in its provider's region.
CHATBOT_API_REGIONS: frozenset[str] = frozenset({"us-east-2", "us-west-2", "ap-southeast-1", "eu-west-1"})

# Zone ids where API Gateway cannot place a VPC link for HTTP APIs: the zones the Region
# availability table of the API Gateway Developer Guide page "Working with VPC links for HTTP
# APIs" leaves out (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-vpc-links.html).
# Zone ids, not names: us-east-1a is a different zone in every account. One source with
# terraform/modules/network, which reads the same file and keeps its subnets out of these zones.
VPC_LINK_ZONES_RELATIVE = Path("terraform") / "modules" / "network" / "unsupported_vpc_link_zones.json"


def vpc_link_zones_file() -> Path:
    """The network module's unsupported_vpc_link_zones.json (source tree, or installed beside the package)."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / VPC_LINK_ZONES_RELATIVE, here.parent / VPC_LINK_ZONES_RELATIVE.name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{VPC_LINK_ZONES_RELATIVE} not found (run the doctor from a checkout)")


def load_vpc_link_unsupported_zones(path: Path | None = None) -> dict[str, frozenset[str]]:
    """{region: zone ids without HTTP API VPC links} from the network module's JSON file."""
    data = json.loads((path or vpc_link_zones_file()).read_text(encoding="utf-8"))
    return {str(region): frozenset(map(str, ids)) for region, ids in data["regions"].items()}


VPC_LINK_UNSUPPORTED_ZONES: Mapping[str, frozenset[str]] = load_vpc_link_unsupported_zones()

# terraform/modules/network puts its subnets in the first az_count zones by name that support
# VPC links (default 2).
NETWORK_AZ_COUNT = 2
SESSION_NAME = "mlops-doctor"
BOTO_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"})

IDENTITY = "tooling credentials"
CODECOMMIT = "CodeCommit"
CHATBOT = "AWS Chatbot region"
VPC_LINK = "VPC link zones"
VPC_LINK_STATUS = "VPC link status"


class ClientFactory(Protocol):
    """A boto3 client of ``service``: the caller's own, or one acting with ``credentials``."""

    def __call__(self, service: str, credentials: Mapping[str, str] | None = None) -> Any: ...


def boto_client_factory(
    session: boto3.Session, region: str, endpoint_url: str | None = None
) -> ClientFactory:
    """Clients of ``session`` (or of assumed credentials) in ``region``; ``AWS_ENDPOINT_URL`` applies.

    One client per service and credentials; all share the session's loaded models.
    """
    cache: dict[tuple[str, str], Any] = {}

    def make(service: str, credentials: Mapping[str, str] | None = None) -> Any:
        key = (service, credentials["AccessKeyId"] if credentials else "")
        if key not in cache:
            explicit = {}
            if credentials is not None:
                explicit = {
                    "aws_access_key_id": credentials["AccessKeyId"],
                    "aws_secret_access_key": credentials["SecretAccessKey"],
                    "aws_session_token": credentials.get("SessionToken"),
                }
            cache[key] = session.client(
                service, region_name=region, endpoint_url=endpoint_url, config=BOTO_CONFIG, **explicit
            )
        return cache[key]

    return make


def describe_error(exc: Exception) -> str:
    """``Code: message`` of an AWS error, the text of a botocore one (neither carries secrets)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or "Error"
        message = error.get("Message") or ""
        return f"{code}: {message}" if message else str(code)
    return str(exc) or type(exc).__name__


def error_code(exc: Exception) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


def check_caller_identity(sts: Any, other_accounts: Mapping[str, str]) -> tuple[CheckResult, str | None]:
    """``sts:GetCallerIdentity`` with the caller's credentials: reachable, and not stage/prod's."""
    fix = (
        "use credentials of an administrator in the tooling account "
        "(`aws sso login --profile tooling` then --profile tooling, or AWS_PROFILE / AWS_ACCESS_KEY_ID)"
    )
    try:
        identity = sts.get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        return failed(IDENTITY, f"sts:GetCallerIdentity failed: {describe_error(exc)}", fix), None
    account, arn = str(identity["Account"]), str(identity["Arn"])
    for label, account_id in other_accounts.items():
        if account == account_id:
            detail = (
                f"these credentials are the {label} account's ({account}, {arn}), not the tooling account's"
            )
            return failed(IDENTITY, detail, fix), arn
    return passed(IDENTITY, f"account {account} as {arn}"), arn


def check_target_role(
    clients: ClientFactory, label: str, account_id: str, role_name: str, caller_arn: str | None = None
) -> CheckResult:
    """``sts:AssumeRole`` into ``label``'s admin role, then read the role back through it.

    The read (``iam:GetRole`` of the role itself) proves the role exists and may read IAM, which
    Terraform needs there; it also catches a missing role where AssumeRole does not check
    (the emulator), where on AWS the AssumeRole itself is refused.
    """
    name = f"{label} account role"
    if not ACCOUNT_ID.match(account_id):
        shown = repr(account_id) if account_id else "not set"
        return failed(
            name,
            f"{label}_account_id is {shown}: need a 12-digit account id",
            f"set {label}_account_id in terraform.tfvars, or pass --{label}-account-id",
        )
    role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
    principal = caller_arn or "your tooling principal"
    trust_fix = (
        f"in the {label} account, create role {role_name} (AWS Organizations creates "
        f"OrganizationAccountAccessRole only in accounts it creates; invited accounts need it by hand) "
        f"with AdministratorAccess and a trust policy allowing sts:AssumeRole by {principal} "
        f"(or the tooling account root); or set target_admin_role_name to the role that exists"
    )
    try:
        response = clients("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=SESSION_NAME, DurationSeconds=900
        )
    except (ClientError, BotoCoreError) as exc:
        return failed(name, f"sts:AssumeRole {role_arn} refused: {describe_error(exc)}", trust_fix)
    credentials = {k: str(v) for k, v in response["Credentials"].items() if k != "Expiration"}
    try:
        assumed = clients("sts", credentials).get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        return failed(name, f"assumed {role_arn}, but its session fails: {describe_error(exc)}", trust_fix)
    if str(assumed["Account"]) != account_id:
        return failed(
            name,
            f"assumed {role_arn}, but the session is in account {assumed['Account']}",
            f"check {label}_account_id",
        )
    try:
        clients("iam", credentials).get_role(RoleName=role_name.rsplit("/", 1)[-1])
    except (ClientError, BotoCoreError) as exc:
        if error_code(exc) == "NoSuchEntity":
            return failed(
                name, f"no role {role_name} in account {account_id} ({describe_error(exc)})", trust_fix
            )
        return warned(
            name,
            f"assumed {role_arn}, but iam:GetRole through it failed: {describe_error(exc)}",
            f"Terraform creates IAM roles in the {label} account: give {role_name} AdministratorAccess",
        )
    return passed(name, f"assumed {role_arn}")


def check_codecommit(
    codecommit: Any, region: str, repository_name: str, available_regions: Collection[str]
) -> CheckResult:
    """CodeCommit has an endpoint in ``region`` and answers a read; the repository is not taken."""
    if region not in available_regions:
        return failed(
            CODECOMMIT,
            f"CodeCommit is not offered in {region} (botocore's endpoint list)",
            "choose a region with CodeCommit, e.g. us-east-1, us-west-2 or eu-west-1 (set region)",
        )
    try:
        codecommit.get_repository(repositoryName=repository_name)
    except (ClientError, BotoCoreError) as exc:
        if error_code(exc) == "RepositoryDoesNotExistException":
            return passed(CODECOMMIT, f"answers in {region}; repository {repository_name!r} is free")
        return failed(
            CODECOMMIT,
            f"codecommit:GetRepository in {region} failed: {describe_error(exc)}",
            "CodeCommit must be usable by the tooling account in this region (it is not offered to "
            "every new customer): check the account's access, or choose another region",
        )
    return warned(
        CODECOMMIT,
        f"repository {repository_name!r} already exists in {region}: terraform apply cannot create it",
        f"set repository_name to a new name, or import it: terraform import "
        f"'module.pipeline.aws_codecommit_repository.this[0]' {repository_name}",
    )


def check_chatbot_region(
    inputs: DoctorInputs, supported: Collection[str] = CHATBOT_API_REGIONS
) -> CheckResult:
    """The AWS Chatbot channel configuration's region has Chatbot's API."""
    if not inputs.chatbot_configured:
        return skipped(CHATBOT, "chatbot is not set: no AWS Chatbot channel is created")
    region = inputs.effective_chatbot_region
    regions = ", ".join(sorted(supported))
    if region in supported:
        return passed(CHATBOT, f"{region} has the AWS Chatbot API")
    if inputs.chatbot_region:
        source = "chatbot_region"
        fix = f"set chatbot_region to one of {regions}"
    else:
        source = "region; live/aws creates the Chatbot channel with its default provider"
        fix = f"deploy to one of {regions}, or leave chatbot unset (the pipeline's own Slack thread does not need it)"
    return failed(CHATBOT, f"{region} ({source}) has no AWS Chatbot API, which is only in {regions}", fix)


def _zone(zone: Mapping[str, Any]) -> str:
    return f"{zone['ZoneName']} ({zone['ZoneId']})"


def check_vpc_link_zones(
    ec2: Any,
    inputs: DoctorInputs,
    unsupported: Mapping[str, Collection[str]] = VPC_LINK_UNSUPPORTED_ZONES,
    az_count: int = NETWORK_AZ_COUNT,
) -> CheckResult:
    """The zones MLflow's VPC link would use support VPC links; at least two supported zones exist."""
    if inputs.mlflow_front_door != "api_gateway":
        return skipped(VPC_LINK, f"mlflow_front_door = {inputs.mlflow_front_door}: no VPC link")
    region = inputs.region
    try:
        listed = ec2.describe_availability_zones()["AvailabilityZones"]
    except (ClientError, BotoCoreError) as exc:
        return failed(
            VPC_LINK,
            f"ec2:DescribeAvailabilityZones in {region} failed: {describe_error(exc)}",
            "check the region name and that the tooling credentials may call ec2:DescribeAvailabilityZones",
        )
    zones = sorted(
        (
            z
            for z in listed
            if z.get("State", "available") == "available"
            and z.get("ZoneType", "availability-zone") == "availability-zone"
        ),
        key=lambda z: str(z["ZoneName"]),
    )
    bad_ids = set(unsupported.get(region, ()))
    bad = [z for z in zones if z["ZoneId"] in bad_ids]
    good = [z for z in zones if z["ZoneId"] not in bad_ids]
    bad_text = ", ".join(_zone(z) for z in bad)
    good_ids = ", ".join(str(z["ZoneId"]) for z in good) or "none"
    if len(good) < 2:
        return warned(
            VPC_LINK,
            f"{region}: only {len(good)} zone(s) support VPC links ({good_ids})"
            + (f"; not supported: {bad_text}" if bad else ""),
            'set mlflow_front_door = "alb" (no VPC link), or choose a region with two or more supported zones',
        )
    if inputs.existing_network:
        if not bad:
            return passed(VPC_LINK, f"{region}: every zone supports VPC links")
        return warned(
            VPC_LINK,
            f"{region}: not supported by VPC links: {bad_text}; existing_network's subnets are not checked",
            f"keep existing_network.private_subnet_ids in supported zones ({good_ids})",
        )
    # The network module skips the unsupported zones (the same table), like this.
    chosen = good[:az_count]
    chosen_text = ", ".join(_zone(z) for z in chosen)
    note = f"; not supported (skipped): {bad_text}" if bad else ""
    return passed(VPC_LINK, f"{region}: the network module uses {chosen_text}{note}")


def check_vpc_link_status(apigateway: Any, inputs: DoctorInputs) -> CheckResult:
    """MLflow's HTTP API VPC link, once deployed, is AVAILABLE (not INACTIVE after 60 idle days)."""
    if inputs.mlflow_front_door != "api_gateway":
        return skipped(VPC_LINK_STATUS, f"mlflow_front_door = {inputs.mlflow_front_door}: no VPC link")
    name = f"{inputs.name_prefix}-mlflow"
    links: list[dict[str, Any]] = []
    try:
        request: dict[str, str] = {}
        while True:
            page = apigateway.get_vpc_links(**request)
            links += page.get("Items", [])
            if not page.get("NextToken"):
                break
            request = {"NextToken": page["NextToken"]}
    except (ClientError, BotoCoreError) as exc:
        return warned(
            VPC_LINK_STATUS,
            f"apigatewayv2 GetVpcLinks in {inputs.region} failed: {describe_error(exc)}",
            "let the tooling credentials call apigateway:GET on /vpclinks to see MLflow's VPC link",
        )
    link = next((item for item in links if item.get("Name") == name), None)
    if link is None:
        return skipped(
            VPC_LINK_STATUS, f"no VPC link {name} in {inputs.region} yet (terraform apply creates it)"
        )
    status = str(link.get("VpcLinkStatus", ""))
    shown = f"{name} ({link.get('VpcLinkId')}) is {status}"
    if status == "AVAILABLE":
        return passed(VPC_LINK_STATUS, shown)
    if status == "INACTIVE":
        return warned(
            VPC_LINK_STATUS,
            f"{shown}: no traffic for 60 days, so API Gateway removed its network interfaces and "
            "MLflow requests fail until it is active again",
            'send one request through the front door (curl -s "$(terraform output -raw mlflow_url)/health") '
            f"and wait a few minutes until `aws apigatewayv2 get-vpc-link --vpc-link-id {link.get('VpcLinkId')}` "
            "shows AVAILABLE before pushing",
        )
    message = str(link.get("VpcLinkStatusMessage") or "")
    if status == "FAILED":
        return failed(
            VPC_LINK_STATUS,
            f"{shown}" + (f": {message}" if message else ""),
            "check the VPC link's subnets (zones that support VPC links, see the VPC link zones check) "
            "and security group, then re-create it (terraform apply -replace on the mlflow module's "
            "aws_apigatewayv2_vpc_link)",
        )
    return warned(VPC_LINK_STATUS, shown, "wait a few minutes and run the doctor again")
