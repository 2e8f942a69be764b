"""DeployedStateStore on DynamoDB: what each model's function runs now (one item per environment and model)."""

from __future__ import annotations

from mlops_pipeline.adapters.aws.dynamodb.base import DynamoStore
from mlops_pipeline.adapters.aws.dynamodb.codec import deployed_from_item, deployed_to_item
from mlops_pipeline.adapters.aws.dynamodb.schema import DEPLOYED_SK, deployed_pk, key
from mlops_pipeline.domain.models import DeployedState


class DynamoDeployedStateStore(DynamoStore):
    """DeployedStateStore: what each model's function in each environment runs now."""

    def get(self, environment: str, model: str) -> DeployedState | None:
        item = self._read(key(deployed_pk(environment, model), DEPLOYED_SK))
        return deployed_from_item(item) if item else None

    def put(self, state: DeployedState) -> None:
        """Record what ``state.model``'s function in ``state.environment`` runs now (unconditional: the last write wins)."""
        self._db.put_item(TableName=self.table_name, Item=deployed_to_item(state))
