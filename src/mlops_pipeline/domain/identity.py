"""Who pushed a commit, as the trusted trigger says, and which chat user that is.

The author of a model is the principal the trigger reports: CodeCommit's ``callerUserArn``
(the EventBridge input transformer puts it in the execution input's ``author``), or a
verified webhook's sender (``github:<login>``, ``gitlab:<username>``). The git author email
inside the commit is chosen by whoever pushes, so it is never used to identify anybody.

A principal becomes a Slack user id through ``IDENTITY_MAP`` (a JSON object, principal ->
Slack user id). For one principal the map is consulted with these keys, in this order, and
the first key present wins:

1. the principal exactly as the trigger gave it (an IAM user ARN
   ``arn:aws:iam::<acct>:user/<path/name>``, an assumed-role session ARN
   ``arn:aws:sts::<acct>:assumed-role/<role>/<session>``, anything else verbatim);
2. for an assumed-role session: ``<role>/<session>`` (any account);
3. for a session of an IAM Identity Center role (``AWSReservedSSO_*``) only: ``<session>``,
   which Identity Center sets to the user's username. Any other role's session name is
   chosen by whoever calls ``sts:AssumeRole``, so a bare session name proves nothing there;
4. ``github:<login>`` / ``gitlab:<username>``: the provider and the name compare without
   regard to case (both services treat names so); nothing else about them is normalised.

ARNs compare exactly (case included). A bare email address as the principal resolves to
nobody, whatever the map says (an email is what the pusher writes into a commit). A role ARN (``arn:aws:iam::<acct>:role/<role>``) as a
key matches no session: every session of the role would become one person. An ``@`` in a
principal is just a character: an ARN is never taken for an email address.

Optionally (``IDENTITY_LOOKUP=identity_center_email``), a principal the map does not name
and that is a session of an Identity Center role whose session name looks like an email
address is looked up by that address in the chat workspace. That trusts the Identity Center
directory (which sets the session name) and the workspace's email addresses, not the pusher.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mlops_pipeline.domain.errors import ChatError, ConfigError

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
SSO_ROLE_PREFIX = "AWSReservedSSO_"
FORGES = ("github", "gitlab")
LOOKUPS = ("none", "identity_center_email")

_ARN = re.compile(r"^arn:aws[a-z-]*:(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Principal:
    """A trigger's principal, parsed. ``kind``: assumed-role, iam-user, forge or other."""

    raw: str
    kind: str
    account: str = ""
    role: str = ""
    session: str = ""
    name: str = ""  # the IAM user name, or the forge login

    @property
    def is_identity_center(self) -> bool:
        return self.kind == "assumed-role" and self.role.startswith(SSO_ROLE_PREFIX)


def parse_principal(raw: str) -> Principal:
    """The principal behind a trigger's ``author`` (never fails: unknown shapes are ``other``)."""
    text = raw.strip()
    match = _ARN.match(text)
    if match:
        service, account, resource = match["service"], match["account"], match["resource"]
        if service == "sts" and resource.startswith("assumed-role/"):
            parts = resource.split("/")
            if len(parts) == 3 and parts[1] and parts[2]:
                return Principal(text, "assumed-role", account, role=parts[1], session=parts[2])
        if service == "iam" and resource.startswith("user/"):
            return Principal(text, "iam-user", account, name=resource.rsplit("/", 1)[-1])
        return Principal(text, "other", account)
    provider, sep, login = text.partition(":")
    if sep and provider.lower() in FORGES and login and not any(c.isspace() for c in login):
        return Principal(text, "forge", name=f"{provider.lower()}:{login.lower()}")
    return Principal(text, "other")


def candidate_keys(principal: Principal) -> list[str]:
    """The identity-map keys that name ``principal``, most specific first (module docstring)."""
    if not principal.raw:
        return []
    if principal.kind == "forge":
        return [principal.name]
    keys = [principal.raw]
    if principal.kind == "assumed-role":
        keys.append(f"{principal.role}/{principal.session}")
        if principal.is_identity_center:
            keys.append(principal.session)
    return keys


def _normalise_key(key: str) -> str:
    parsed = parse_principal(key)
    return parsed.name if parsed.kind == "forge" else key.strip()


def parse_identity_map(raw: str) -> dict[str, str]:
    """``IDENTITY_MAP`` as a dict (forge keys in lower case); ConfigError when malformed."""
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise ConfigError(f"IDENTITY_MAP is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("IDENTITY_MAP must be a JSON object: principal -> Slack user id")
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key.strip():
            raise ConfigError("IDENTITY_MAP has an empty key")
        if not isinstance(value, str) or not SLACK_USER_ID.match(value):
            raise ConfigError(f"IDENTITY_MAP[{key!r}] must be a Slack user id (U... or W...), not {value!r}")
        if key.startswith("arn:") and not _ARN.match(key):
            raise ConfigError(f"IDENTITY_MAP key {key!r} is not an IAM or STS ARN")
        normal = _normalise_key(key)
        if out.get(normal, value) != value:
            raise ConfigError(f"IDENTITY_MAP names {normal!r} twice, with different users")
        out[normal] = value
    return out


@dataclass(frozen=True)
class Resolution:
    """The author's chat user id (None: unresolved) and how it was found, or why not."""

    slack_id: str | None
    via: str


class IdentityResolver:
    """Trigger principal -> Slack user id, by the identity map, then (optionally) Identity Center."""

    def __init__(
        self,
        identity_map: Mapping[str, str] | None = None,
        lookup: str = "none",
        lookup_user_by_email: Callable[[str], str | None] | None = None,
    ) -> None:
        if lookup not in LOOKUPS:
            raise ConfigError(f"IDENTITY_LOOKUP must be one of {', '.join(LOOKUPS)}, not {lookup!r}")
        if lookup != "none" and lookup_user_by_email is None:
            raise ConfigError(f"IDENTITY_LOOKUP={lookup} needs a chat workspace to look users up in")
        self.identity_map = {_normalise_key(k): v for k, v in (identity_map or {}).items()}
        self.lookup = lookup
        self.lookup_user_by_email = lookup_user_by_email

    def resolve(self, author: str) -> Resolution:
        principal = parse_principal(author or "")
        if not principal.raw:
            return Resolution(None, "the trigger named no principal")
        if principal.kind == "other" and _EMAIL.match(principal.raw):
            # Whoever pushes writes any email into a commit: an address is never a principal.
            return Resolution(None, "an email address identifies nobody")
        for key in candidate_keys(principal):
            slack_id = self.identity_map.get(key)
            if slack_id:
                return Resolution(slack_id, f"IDENTITY_MAP entry `{key}`")
        if (
            self.lookup == "identity_center_email"
            and self.lookup_user_by_email is not None
            and principal.is_identity_center
            and _EMAIL.match(principal.session)
        ):
            try:
                slack_id = self.lookup_user_by_email(principal.session)
            except ChatError as exc:  # fail closed: an unresolved author needs two approvers
                return Resolution(None, f"the chat workspace lookup failed ({exc.code or exc})")
            if slack_id:
                return Resolution(slack_id, f"Identity Center user `{principal.session}` (by email)")
            return Resolution(None, f"no chat user has the Identity Center user's email {principal.session}")
        return Resolution(None, "not in IDENTITY_MAP")
