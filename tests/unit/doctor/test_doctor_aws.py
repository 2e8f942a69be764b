"""The AWS checks with stubbed clients: what AWS answers (refusals included) -> status, detail, fix."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from mlops_pipeline.doctor.aws_checks import (
    CHATBOT_API_REGIONS,
    VPC_LINK_UNSUPPORTED_ZONES,
    check_caller_identity,
    check_chatbot_region,
    check_codecommit,
    check_target_role,
    check_vpc_link_status,
    check_vpc_link_zones,
    load_vpc_link_unsupported_zones,
    vpc_link_zones_file,
)
from mlops_pipeline.doctor.inputs import DoctorInputs
from mlops_pipeline.doctor.result import Status

ROLE = "OrganizationAccountAccessRole"
STAGE = "222222222222"
CREDS = {
    "AccessKeyId": "ASIAEXAMPLEEXAMPLE00",
    "SecretAccessKey": "secret-secret-secret-secret-secret-secret",
    "SessionToken": "token",
    "Expiration": datetime(2030, 1, 1, tzinfo=UTC),
}


def inputs(**changes: Any) -> DoctorInputs:
    base: dict[str, Any] = {
        "region": "us-east-1",
        "stage_account_id": STAGE,
        "prod_account_id": "333333333333",
        "target_admin_role_name": ROLE,
    }
    return DoctorInputs(**{**base, **changes})


def client(service: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="example",
        endpoint_url="https://example.invalid",
    )


class Stubs:
    """Stubbed clients by (service, assumed?); every stub must be used up."""

    def __init__(self) -> None:
        self.clients: dict[tuple[str, bool], Any] = {}
        self.stubbers: dict[tuple[str, bool], Stubber] = {}

    def stub(self, service: str, assumed: bool = False) -> Stubber:
        key = (service, assumed)
        if key not in self.stubbers:
            self.clients[key] = client(service)
            self.stubbers[key] = Stubber(self.clients[key])
            self.stubbers[key].activate()
        return self.stubbers[key]

    def __call__(self, service: str, credentials: Mapping[str, str] | None = None) -> Any:
        self.stub(service, credentials is not None)
        return self.clients[(service, credentials is not None)]


@pytest.fixture
def stubs() -> Iterator[Stubs]:
    made = Stubs()
    yield made
    for stubber in made.stubbers.values():
        stubber.assert_no_pending_responses()


def identity(account: str, arn: str) -> dict[str, str]:
    return {"Account": account, "Arn": arn, "UserId": "AIDAEXAMPLE"}


def test_caller_identity_passes_for_the_tooling_account(stubs: Stubs) -> None:
    stubs.stub("sts").add_response(
        "get_caller_identity", identity("111111111111", "arn:aws:iam::111111111111:user/a")
    )

    result, arn = check_caller_identity(stubs("sts"), {"stage": STAGE})

    assert result.status is Status.PASS and "111111111111" in result.detail
    assert arn == "arn:aws:iam::111111111111:user/a"


def test_caller_identity_of_the_stage_account_fails(stubs: Stubs) -> None:
    stubs.stub("sts").add_response("get_caller_identity", identity(STAGE, f"arn:aws:iam::{STAGE}:user/a"))

    result, _ = check_caller_identity(stubs("sts"), {"stage": STAGE})

    assert result.status is Status.FAIL and "stage account" in result.detail


def test_caller_identity_with_expired_credentials_fails(stubs: Stubs) -> None:
    stubs.stub("sts").add_client_error(
        "get_caller_identity", "ExpiredToken", "The security token included is expired"
    )

    result, arn = check_caller_identity(stubs("sts"), {})

    assert result.status is Status.FAIL and "ExpiredToken" in result.detail and arn is None
    assert "tooling account" in result.fix


def test_assume_role_refused_fails_with_the_trust_fix(stubs: Stubs) -> None:
    stubs.stub("sts").add_client_error(
        "assume_role", "AccessDenied", "not authorized to perform: sts:AssumeRole"
    )

    result = check_target_role(stubs, "stage", STAGE, ROLE, "arn:aws:iam::111111111111:user/me")

    assert result.status is Status.FAIL
    assert f"arn:aws:iam::{STAGE}:role/{ROLE}" in result.detail and "AccessDenied" in result.detail
    assert "arn:aws:iam::111111111111:user/me" in result.fix and f"create role {ROLE}" in result.fix


def _assumed(stubs: Stubs, account: str = STAGE) -> None:
    stubs.stub("sts").add_response(
        "assume_role",
        {
            "Credentials": CREDS,
            "AssumedRoleUser": {
                "AssumedRoleId": "AROAEXAMPLE:mlops-doctor",
                "Arn": f"arn:aws:sts::{STAGE}:assumed-role/{ROLE}/mlops-doctor",
            },
        },
        {
            "RoleArn": f"arn:aws:iam::{STAGE}:role/{ROLE}",
            "RoleSessionName": "mlops-doctor",
            "DurationSeconds": 900,
        },
    )
    stubs.stub("sts", assumed=True).add_response(
        "get_caller_identity", identity(account, f"arn:aws:sts::{account}:assumed-role/{ROLE}/mlops-doctor")
    )


def test_assumed_role_that_reads_itself_passes(stubs: Stubs) -> None:
    _assumed(stubs)
    stubs.stub("iam", assumed=True).add_response(
        "get_role",
        {
            "Role": {
                "Path": "/",
                "RoleName": ROLE,
                "RoleId": "AROAEXAMPLEEXAMPLE",
                "Arn": f"arn:aws:iam::{STAGE}:role/{ROLE}",
                "CreateDate": datetime(2024, 1, 1, tzinfo=UTC),
            }
        },
        {"RoleName": ROLE},
    )

    result = check_target_role(stubs, "stage", STAGE, ROLE)

    assert result.status is Status.PASS and f"role/{ROLE}" in result.detail


def test_assumed_role_that_does_not_exist_fails(stubs: Stubs) -> None:
    _assumed(stubs)
    stubs.stub("iam", assumed=True).add_client_error("get_role", "NoSuchEntity", "cannot be found")

    result = check_target_role(stubs, "stage", STAGE, ROLE)

    assert result.status is Status.FAIL and f"no role {ROLE}" in result.detail


def test_assumed_role_without_iam_read_warns(stubs: Stubs) -> None:
    _assumed(stubs)
    stubs.stub("iam", assumed=True).add_client_error("get_role", "AccessDenied", "not authorized")

    result = check_target_role(stubs, "stage", STAGE, ROLE)

    assert result.status is Status.WARN and "AdministratorAccess" in result.fix


def test_assumed_session_in_another_account_fails(stubs: Stubs) -> None:
    _assumed(stubs, account="999999999999")

    result = check_target_role(stubs, "stage", STAGE, ROLE)

    assert result.status is Status.FAIL and "999999999999" in result.detail


@pytest.mark.parametrize("account", ["", "2222", "22222222222a"])
def test_bad_account_ids_fail_without_a_call(stubs: Stubs, account: str) -> None:
    result = check_target_role(stubs, "prod", account, ROLE)

    assert result.status is Status.FAIL and "12-digit" in result.detail and "--prod-account-id" in result.fix
    assert stubs.stubbers == {}


def test_codecommit_outside_its_regions_fails_without_a_call(stubs: Stubs) -> None:
    result = check_codecommit(stubs("codecommit"), "mx-central-1", "models", {"us-east-1"})

    assert result.status is Status.FAIL and "mx-central-1" in result.detail


def test_codecommit_free_taken_and_refused(stubs: Stubs) -> None:
    stub = stubs.stub("codecommit")
    stub.add_client_error("get_repository", "RepositoryDoesNotExistException", "models does not exist")
    stub.add_response("get_repository", {"repositoryMetadata": {"repositoryName": "models"}})
    stub.add_client_error("get_repository", "AccessDeniedException", "denied")

    free = check_codecommit(stubs("codecommit"), "us-east-1", "models", {"us-east-1"})
    taken = check_codecommit(stubs("codecommit"), "us-east-1", "models", {"us-east-1"})
    refused = check_codecommit(stubs("codecommit"), "us-east-1", "models", {"us-east-1"})

    assert free.status is Status.PASS
    assert taken.status is Status.WARN and "terraform import" in taken.fix
    assert refused.status is Status.FAIL and "AccessDeniedException" in refused.detail


def test_chatbot_region() -> None:
    assert check_chatbot_region(inputs()).status is Status.SKIP
    in_region = check_chatbot_region(inputs(chatbot_configured=True))
    explicit = check_chatbot_region(inputs(chatbot_configured=True, chatbot_region="ap-southeast-1"))
    wrong = check_chatbot_region(inputs(chatbot_configured=True, chatbot_region="eu-central-1"))

    assert (
        in_region.status is Status.FAIL
        and "us-east-1" in in_region.detail
        and "default provider" in in_region.detail
    )
    assert explicit.status is Status.PASS
    assert wrong.status is Status.FAIL and "set chatbot_region" in wrong.fix
    assert check_chatbot_region(inputs(chatbot_configured=True, region="us-west-2")).status is Status.PASS


def test_the_tables_name_the_documented_regions() -> None:
    assert {"us-east-2", "us-west-2", "eu-west-1", "ap-southeast-1"} == CHATBOT_API_REGIONS
    assert "use1-az3" in VPC_LINK_UNSUPPORTED_ZONES["us-east-1"]


class FakeEc2:
    def __init__(self, zones: list[tuple[str, str]], extra: list[dict[str, str]] | None = None) -> None:
        self.zones = [{"ZoneName": n, "ZoneId": i, "State": "available"} for n, i in zones] + (extra or [])

    def describe_availability_zones(self) -> dict[str, Any]:
        return {"AvailabilityZones": self.zones}


US_EAST_1 = [("us-east-1b", "use1-az1"), ("us-east-1a", "use1-az3"), ("us-east-1c", "use1-az2")]


def test_vpc_link_zones_the_network_skips_an_unsupported_zone() -> None:
    result = check_vpc_link_zones(FakeEc2(US_EAST_1), inputs())

    # The network module reads the same table and takes the next zones by name.
    assert result.status is Status.PASS
    assert "uses us-east-1b (use1-az1), us-east-1c (use1-az2)" in result.detail
    assert "(skipped): us-east-1a (use1-az3)" in result.detail


def test_vpc_link_zones_report_an_unsupported_zone_beyond_the_first_two() -> None:
    zones = [("us-east-1a", "use1-az1"), ("us-east-1b", "use1-az2"), ("us-east-1c", "use1-az3")]
    result = check_vpc_link_zones(FakeEc2(zones), inputs())

    assert result.status is Status.PASS and "skipped" in result.detail and "use1-az3" in result.detail


def test_the_zone_table_is_the_network_modules_file() -> None:
    path = vpc_link_zones_file()

    assert path.parts[-4:] == ("terraform", "modules", "network", "unsupported_vpc_link_zones.json")
    assert load_vpc_link_unsupported_zones(path) == VPC_LINK_UNSUPPORTED_ZONES


def test_vpc_link_zones_warn_below_two_supported_zones() -> None:
    zones = [("us-west-1a", "usw1-az1"), ("us-west-1b", "usw1-az2")]
    unavailable = [{"ZoneName": "us-west-1c", "ZoneId": "usw1-az3", "State": "impaired"}]
    local_zone = [
        {
            "ZoneName": "us-west-1-lax-1a",
            "ZoneId": "usw1-lax1-az1",
            "State": "available",
            "ZoneType": "local-zone",
        }
    ]

    result = check_vpc_link_zones(FakeEc2(zones, unavailable + local_zone), inputs(region="us-west-1"))

    assert result.status is Status.WARN and "only 1 zone(s)" in result.detail and "usw1-az2" in result.detail


def test_vpc_link_zones_with_an_existing_network_or_alb() -> None:
    existing = check_vpc_link_zones(FakeEc2(US_EAST_1), inputs(existing_network=True))
    alb = check_vpc_link_zones(FakeEc2(US_EAST_1), inputs(mlflow_front_door="alb"))
    elsewhere = check_vpc_link_zones(
        FakeEc2([("eu-west-1a", "euw1-az1"), ("eu-west-1b", "euw1-az2")]), inputs(region="eu-west-1")
    )

    assert existing.status is Status.WARN and "use1-az3" in existing.detail
    assert alb.status is Status.SKIP
    assert elsewhere.status is Status.PASS and "skipped" not in elsewhere.detail


def test_vpc_link_zones_uses_an_injected_table() -> None:
    zones = [("eu-west-1a", "euw1-az1"), ("eu-west-1b", "euw1-az2"), ("eu-west-1c", "euw1-az3")]

    result = check_vpc_link_zones(FakeEc2(zones), inputs(region="eu-west-1"), {"eu-west-1": {"euw1-az2"}})

    assert (
        result.status is Status.PASS and "uses eu-west-1a (euw1-az1), eu-west-1c (euw1-az3)" in result.detail
    )


class FakeApiGateway:
    """get_vpc_links in two pages; or an error."""

    def __init__(self, links: list[dict[str, str]], error: Exception | None = None) -> None:
        self.links, self.error, self.calls = links, error, 0

    def get_vpc_links(self, **request: str) -> dict[str, Any]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if "NextToken" not in request:
            return {"Items": self.links[:1], "NextToken": "page-2"}
        return {"Items": self.links[1:]}


def link(status: str, name: str = "mlops-mlflow", message: str = "") -> dict[str, str]:
    return {"Name": name, "VpcLinkId": "abc123", "VpcLinkStatus": status, "VpcLinkStatusMessage": message}


def test_vpc_link_status() -> None:
    other = link("AVAILABLE", name="someone-else")
    available = check_vpc_link_status(FakeApiGateway([other, link("AVAILABLE")]), inputs())
    inactive = check_vpc_link_status(FakeApiGateway([other, link("INACTIVE")]), inputs())
    failed = check_vpc_link_status(FakeApiGateway([link("FAILED", message="subnet in use1-az3")]), inputs())
    pending = check_vpc_link_status(FakeApiGateway([link("PENDING")]), inputs())

    assert available.status is Status.PASS and "mlops-mlflow (abc123) is AVAILABLE" in available.detail
    assert inactive.status is Status.WARN and "60 days" in inactive.detail
    assert "/health" in inactive.fix and "get-vpc-link --vpc-link-id abc123" in inactive.fix
    assert failed.status is Status.FAIL and "use1-az3" in failed.detail
    assert pending.status is Status.WARN


def test_vpc_link_status_before_the_first_apply_or_without_one() -> None:
    api = FakeApiGateway([link("INACTIVE", name="other-mlflow")])
    missing = check_vpc_link_status(api, inputs())
    own_prefix = check_vpc_link_status(api, inputs(name_prefix="other"))
    alb = check_vpc_link_status(FakeApiGateway([]), inputs(mlflow_front_door="alb"))
    refused = check_vpc_link_status(
        FakeApiGateway(
            [], ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetVpcLinks")
        ),
        inputs(),
    )

    assert missing.status is Status.SKIP and "mlops-mlflow" in missing.detail
    assert own_prefix.status is Status.WARN
    assert alb.status is Status.SKIP
    assert refused.status is Status.WARN and "AccessDeniedException" in refused.detail
