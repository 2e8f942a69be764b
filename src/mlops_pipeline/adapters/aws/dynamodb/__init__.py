"""DynamoDB adapters: approvals, run records, deployment locks, deployed state, rollback offers.

One table (``schema``), one module per store, the item codec in ``codec``. Every state
change that two writers could race on is a conditional write, so the table, not the
caller, decides who wins; a failed condition reaches the caller as the port's error
(``mlops_pipeline.domain.errors``), never as a botocore type.
"""

from mlops_pipeline.adapters.aws.dynamodb.approvals import DynamoApprovalStore
from mlops_pipeline.adapters.aws.dynamodb.codec import from_iso, to_iso
from mlops_pipeline.adapters.aws.dynamodb.deployed import DynamoDeployedStateStore
from mlops_pipeline.adapters.aws.dynamodb.locks import DynamoLockStore
from mlops_pipeline.adapters.aws.dynamodb.rollbacks import DynamoRollbackStore
from mlops_pipeline.adapters.aws.dynamodb.runs import DynamoRunStore
from mlops_pipeline.adapters.aws.dynamodb.schema import APPROVAL_RETENTION, GSI1, create_table

__all__ = [
    "APPROVAL_RETENTION",
    "GSI1",
    "DynamoApprovalStore",
    "DynamoDeployedStateStore",
    "DynamoLockStore",
    "DynamoRollbackStore",
    "DynamoRunStore",
    "create_table",
    "from_iso",
    "to_iso",
]
