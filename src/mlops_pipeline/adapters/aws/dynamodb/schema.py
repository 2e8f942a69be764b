"""The pipeline table as ``docs/contracts.md`` defines it: keys, the GSI, TTL, and ``create_table``.

One table: ``pk``/``sk`` primary key, GSI ``gsi1`` (``gsi1pk``/``gsi1sk``, projection ALL),
TTL attribute ``ttl`` (epoch seconds). Terraform owns the table on AWS; ``create_table``
mirrors it for moto and the local stack.

TTL: an approval keeps its audit trail for ``APPROVAL_RETENTION`` (30 days) after it
expires (``ttl = expires_at + 30 days``); a lock's ``ttl`` is its expiry, so DynamoDB
eventually removes locks that a crashed run left (the condition on ``expires_at``
already makes them takeable before that). Run records and deployed state never expire.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

GSI1 = "gsi1"
TTL_ATTRIBUTE = "ttl"
APPROVAL_RETENTION = timedelta(days=30)

APPROVAL_SK = "APPROVAL"
RUN_SK = "RUN"
LOCK_SK = "LOCK"
INTENT_SK = "INTENT"  # a deploy's intent, beside its lock (same partition)
DEPLOYED_SK = "DEPLOYED"
ROLLBACK_SK = "ROLLBACK"  # a run's prod rollback offer (adapters/aws/dynamodb/rollbacks.py)
RUNS_GSI_PK = "RUNS"  # every run with a start time, sorted by it


def approval_pk(approval_id: str) -> str:
    return f"APPROVAL#{approval_id}"


def approvals_gsi_pk(model_name: str) -> str:
    """The GSI partition of one model's approvals (sorted by request time)."""
    return f"APPROVALS#{model_name}"


def run_pk(execution: str) -> str:
    return f"RUN#{execution}"


def lock_pk(name: str) -> str:
    return f"LOCK#{name}"


def deployed_pk(environment: str, model: str) -> str:
    """What one model's function in one environment runs (each model deploys on its own)."""
    return f"ENV#{environment}#{model}"


def rollback_pk(request_id: str) -> str:
    """A successful run's prod rollback offer, by its execution name."""
    return f"ROLLBACK#{request_id}"


def key(pk: str, sk: str) -> dict[str, Any]:
    """A primary key in DynamoDB's wire format."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def create_table(client: Any, table_name: str) -> None:
    """Create the pipeline table as ``docs/contracts.md`` defines it (tests, local harness).

    On AWS, Terraform owns the table; this mirrors it for moto.
    """
    client.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
