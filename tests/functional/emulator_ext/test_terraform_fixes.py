"""moto answers what the Terraform AWS provider sent and reads back (no plan drift)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime

import pytest

from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

KEY_ARN = "arn:aws:kms:us-east-1:111111111111:key/11111111-2222-3333-4444-555555555555"


def _role(emulator: Emulator, name: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return str(
        emulator.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
    )


def test_codecommit_dates_kms_key_and_tags(emulator: Emulator) -> None:
    codecommit = emulator.client("codecommit")
    created = codecommit.create_repository(
        repositoryName="tf-repo", repositoryDescription="d", kmsKeyId=KEY_ARN, tags={"team": "ml"}
    )["repositoryMetadata"]
    arn = created["Arn"]

    metadata = codecommit.get_repository(repositoryName="tf-repo")["repositoryMetadata"]
    assert isinstance(metadata["creationDate"], datetime)
    assert isinstance(metadata["lastModifiedDate"], datetime)
    assert metadata["kmsKeyId"] == KEY_ARN
    assert codecommit.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "ml"}

    codecommit.tag_resource(resourceArn=arn, tags={"env": "local"})
    codecommit.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert codecommit.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "local"}
    codecommit.update_repository_description(repositoryName="tf-repo", repositoryDescription="new")
    assert (
        codecommit.get_repository(repositoryName="tf-repo")["repositoryMetadata"]["repositoryDescription"]
        == "new"
    )
    with pytest.raises(codecommit.exceptions.RepositoryDoesNotExistException):
        codecommit.list_tags_for_resource(resourceArn=arn + "-missing")


def test_lambda_image_config_is_what_was_sent(emulator: Emulator) -> None:
    lam, role = emulator.client("lambda"), _role(emulator, "tf-lambda")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    lam.create_function(
        FunctionName="tf-zip",
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    image_uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/serving:latest"
    lam.create_function(
        FunctionName="tf-image-plain", Role=role, PackageType="Image", Code={"ImageUri": image_uri}
    )
    lam.create_function(
        FunctionName="tf-image-cmd",
        Role=role,
        PackageType="Image",
        Code={"ImageUri": image_uri},
        ImageConfig={"Command": ["serving.handler.handler"]},
    )

    assert "ImageConfigResponse" not in lam.get_function(FunctionName="tf-zip")["Configuration"]
    assert "ImageConfigResponse" not in lam.get_function(FunctionName="tf-image-plain")["Configuration"]
    config = lam.get_function(FunctionName="tf-image-cmd")["Configuration"]
    assert config["ImageConfigResponse"] == {"ImageConfig": {"Command": ["serving.handler.handler"]}}

    lam.update_function_configuration(FunctionName="tf-image-cmd", ImageConfig={"Command": ["other.handler"]})
    config = lam.get_function_configuration(FunctionName="tf-image-cmd")
    assert config["ImageConfigResponse"] == {"ImageConfig": {"Command": ["other.handler"]}}


def test_codebuild_encryption_key_and_update_project(emulator: Emulator, make_project: object) -> None:
    codebuild = emulator.client("codebuild")
    codebuild.create_project(
        name="tf-build",
        source={"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases: {}\n"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "img", "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole="arn:aws:iam::111111111111:role/cb",
        encryptionKey=KEY_ARN,
    )
    assert codebuild.batch_get_projects(names=["tf-build"])["projects"][0]["encryptionKey"] == KEY_ARN

    codebuild.update_project(name="tf-build", description="changed", timeoutInMinutes=30)
    project = codebuild.batch_get_projects(names=["tf-build"])["projects"][0]
    assert (project["description"], project["timeoutInMinutes"], project["encryptionKey"]) == (
        "changed",
        30,
        KEY_ARN,
    )


def test_ecs_availability_zone_rebalancing_is_returned(emulator: Emulator) -> None:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName="tf-cluster")
    ecs.register_task_definition(
        family="tf-task",
        containerDefinitions=[{"name": "app", "image": "nginx", "memory": 128}],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )
    ecs.create_service(
        cluster="tf-cluster",
        serviceName="tf-service",
        taskDefinition="tf-task",
        desiredCount=0,
        launchType="FARGATE",
        availabilityZoneRebalancing="DISABLED",
    )
    described = ecs.describe_services(cluster="tf-cluster", services=["tf-service"])["services"][0]
    assert described["availabilityZoneRebalancing"] == "DISABLED"

    ecs.update_service(cluster="tf-cluster", service="tf-service", availabilityZoneRebalancing="ENABLED")
    described = ecs.describe_services(cluster="tf-cluster", services=["tf-service"])["services"][0]
    assert described["availabilityZoneRebalancing"] == "ENABLED"


def test_rds_serverless_v2_cluster_has_no_v1_scaling_block(emulator: Emulator) -> None:
    rds = emulator.client("rds")
    rds.create_db_cluster(
        DBClusterIdentifier="tf-aurora",
        Engine="aurora-postgresql",
        EngineMode="provisioned",
        MasterUsername="mlflow",
        MasterUserPassword="not-a-real-password-1",
        ServerlessV2ScalingConfiguration={"MinCapacity": 0, "MaxCapacity": 2},
    )
    cluster = rds.describe_db_clusters(DBClusterIdentifier="tf-aurora")["DBClusters"][0]
    assert "ScalingConfigurationInfo" not in cluster
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.0, "MaxCapacity": 2.0}

    rds.create_db_cluster(
        DBClusterIdentifier="tf-aurora-v1",
        Engine="aurora-postgresql",
        EngineMode="serverless",
        MasterUsername="mlflow",
        MasterUserPassword="not-a-real-password-1",
        ScalingConfiguration={"MinCapacity": 1, "MaxCapacity": 4, "AutoPause": True},
    )
    v1 = rds.describe_db_clusters(DBClusterIdentifier="tf-aurora-v1")["DBClusters"][0]
    assert v1["ScalingConfigurationInfo"]["MaxCapacity"] == 4
