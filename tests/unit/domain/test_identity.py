"""The author is the trusted trigger's principal, resolved through IDENTITY_MAP (rules in identity.py)."""

import json

import pytest

from mlops_pipeline.domain.errors import ChatError, ConfigError
from mlops_pipeline.domain.identity import (
    IdentityResolver,
    candidate_keys,
    parse_identity_map,
    parse_principal,
)

ACCT = "111111111111"
USER_ARN = f"arn:aws:iam::{ACCT}:user/teams/dana"
ROLE_SESSION = f"arn:aws:sts::{ACCT}:assumed-role/Developer/dana"
SSO_SESSION = f"arn:aws:sts::{ACCT}:assumed-role/AWSReservedSSO_DataScience_0123abcd/dana@example.com"


def resolver(
    mapping: dict[str, str], lookup: str = "none", emails: dict[str, str] | None = None
) -> IdentityResolver:
    directory = emails or {}
    return IdentityResolver(parse_identity_map(json.dumps(mapping)), lookup, directory.get)


def test_principals_are_parsed_by_shape() -> None:
    assert parse_principal(USER_ARN).kind == "iam-user"
    session = parse_principal(ROLE_SESSION)
    assert (session.kind, session.account, session.role, session.session) == (
        "assumed-role",
        ACCT,
        "Developer",
        "dana",
    )
    assert parse_principal(SSO_SESSION).is_identity_center
    assert not session.is_identity_center
    assert parse_principal("github:OctoCat").name == "github:octocat"
    assert parse_principal("dana@example.com").kind == "other"
    assert parse_principal(f"arn:aws:iam::{ACCT}:role/Developer").kind == "other"


@pytest.mark.parametrize(
    ("principal", "keys"),
    [
        (USER_ARN, [USER_ARN]),
        (ROLE_SESSION, [ROLE_SESSION, "Developer/dana"]),
        (
            SSO_SESSION,
            [SSO_SESSION, "AWSReservedSSO_DataScience_0123abcd/dana@example.com", "dana@example.com"],
        ),
        ("GitHub:OctoCat", ["github:octocat"]),
        ("gitlab:dana", ["gitlab:dana"]),
        ("", []),
    ],
)
def test_candidate_keys_most_specific_first(principal: str, keys: list[str]) -> None:
    assert candidate_keys(parse_principal(principal)) == keys


@pytest.mark.parametrize(
    ("key", "principal"),
    [
        (USER_ARN, USER_ARN),
        (ROLE_SESSION, ROLE_SESSION),
        ("Developer/dana", ROLE_SESSION),
        ("Developer/dana", "arn:aws:sts::222222222222:assumed-role/Developer/dana"),  # any account
        ("dana@example.com", SSO_SESSION),  # Identity Center sets the session name
        ("github:octocat", "github:OctoCat"),
        ("GitHub:OctoCat", "github:octocat"),
        ("gitlab:dana", "gitlab:dana"),
    ],
)
def test_map_keys_that_match(key: str, principal: str) -> None:
    result = resolver({key: "U0DANA"}).resolve(principal)
    assert result.slack_id == "U0DANA", result.via
    assert "IDENTITY_MAP" in result.via


@pytest.mark.parametrize(
    ("key", "principal"),
    [
        # A bare session name of an ordinary role is whatever the caller of AssumeRole chose.
        ("dana", ROLE_SESSION),
        # A role ARN would make every session of the role one person.
        (f"arn:aws:iam::{ACCT}:role/Developer", ROLE_SESSION),
        # ARNs compare exactly, case included; paths are part of the user ARN.
        (f"arn:aws:iam::{ACCT}:user/teams/Dana", USER_ARN),
        (f"arn:aws:iam::{ACCT}:user/dana", USER_ARN),
        ("Developer/dan", ROLE_SESSION),
        # The forge must match too.
        ("gitlab:octocat", "github:octocat"),
        # Emails identify nobody: not the trigger's, not the git author's.
        ("dana@example.com", f"arn:aws:sts::{ACCT}:assumed-role/Developer/dana@example.com"),
        ("dana@example.com", "dana@example.com"),
    ],
)
def test_map_keys_that_do_not_match(key: str, principal: str) -> None:
    assert resolver({key: "U0DANA"}).resolve(principal).slack_id is None


def test_at_sign_in_an_arn_is_never_an_email() -> None:
    # The old rule took anything with "@" for an email and looked it up: an SSO session name,
    # a role session anybody can name "boss@example.com", and git emails all resolved.
    emails = {"dana@example.com": "U0DANA", "boss@example.com": "U0BOSS"}
    no_lookup = resolver({}, emails=emails)
    assert no_lookup.resolve(SSO_SESSION).slack_id is None
    assert no_lookup.resolve("dana@example.com").slack_id is None
    with_lookup = resolver({}, "identity_center_email", emails)
    forged = f"arn:aws:sts::{ACCT}:assumed-role/Developer/boss@example.com"
    assert with_lookup.resolve(forged).slack_id is None  # not an Identity Center role
    assert with_lookup.resolve("boss@example.com").slack_id is None  # not a principal at all


def test_identity_center_lookup_by_email_is_opt_in() -> None:
    emails = {"dana@example.com": "U0DANA"}
    found = resolver({}, "identity_center_email", emails).resolve(SSO_SESSION)
    assert found.slack_id == "U0DANA" and "Identity Center" in found.via
    missing = resolver({}, "identity_center_email", {}).resolve(SSO_SESSION)
    assert missing.slack_id is None and "no chat user" in missing.via
    not_email = SSO_SESSION.replace("dana@example.com", "dana")
    assert resolver({}, "identity_center_email", emails).resolve(not_email).slack_id is None
    # The map wins over the lookup.
    assert (
        resolver({"dana@example.com": "U0MAPPED"}, "identity_center_email", emails)
        .resolve(SSO_SESSION)
        .slack_id
        == "U0MAPPED"
    )


def test_a_failing_lookup_leaves_the_author_unresolved() -> None:
    def broken(email: str) -> str | None:
        raise ChatError("users.lookupByEmail failed: ratelimited", "ratelimited")

    result = IdentityResolver({}, "identity_center_email", broken).resolve(SSO_SESSION)
    assert result.slack_id is None and "ratelimited" in result.via


def test_unresolved_reasons() -> None:
    assert resolver({}).resolve("").via == "the trigger named no principal"
    assert resolver({}).resolve(USER_ARN).via == "not in IDENTITY_MAP"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"github:x": "alice"}', "Slack user id"),
        ('{"github:x": 7}', "Slack user id"),
        ('{" ": "U1AB"}', "empty key"),
        ('{"arn:aws:s3:::bucket": "U1AB"}', "not an IAM or STS ARN"),
        ('{"github:X": "U1AB", "github:x": "U2AB"}', "twice"),
    ],
)
def test_malformed_maps_are_config_errors(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_identity_map(raw)


def test_map_parsing_normalises_forge_keys_only() -> None:
    assert parse_identity_map("") == {}
    assert parse_identity_map('{"GitHub:Octo": "U1AB", "Developer/Dana": "W2AB"}') == {
        "github:octo": "U1AB",
        "Developer/Dana": "W2AB",
    }


def test_lookup_setting_is_validated() -> None:
    with pytest.raises(ConfigError, match="IDENTITY_LOOKUP"):
        IdentityResolver({}, "email")
    with pytest.raises(ConfigError, match="needs a chat workspace"):
        IdentityResolver({}, "identity_center_email", None)
