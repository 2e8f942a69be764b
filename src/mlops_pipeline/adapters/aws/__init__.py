"""AWS adapters (boto3) of the ports in ``mlops_pipeline.ports``.

- ``session``: cross-account sessions through STS AssumeRole.
- ``lambda_deployer``: FunctionDeployer (image update, published version, alias move).
- ``dynamodb``: ApprovalStore, RunStore, LockStore, DeployedStateStore and ``create_table``.
- ``stepfunctions``: TaskCallbacks (task-token answers).
- ``secrets``: JSON secrets through Powertools Parameters (cached).
- ``build_logs``: BuildLogReader (the last lines of a CodeBuild log in CloudWatch Logs).

Every constructor takes an injectable client; without one the default boto3 session is
used, which honours ``AWS_ENDPOINT_URL`` (local emulator) on its own.
"""
