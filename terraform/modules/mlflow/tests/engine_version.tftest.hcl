# Aurora upgrades minor versions itself (auto_minor_version_upgrade): the configured
# engine_version is where a new cluster starts. A later plan must not try to move an upgraded
# cluster back, or follow a changed engine_version (lifecycle ignore_changes). Mocks as in
# security.tftest.hcl.
mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  vpc_id             = "vpc-0123456789abcdef0"
  task_subnet_ids    = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
  private_subnet_ids = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
  kms_key_arn        = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
  write_passwords    = true
  admin_password     = "test-admin-password"
  pipeline_password  = "test-pipeline-password"
  flask_secret_key   = "test-flask-secret-key"
}

run "create_at_the_configured_version" {
  command = apply

  variables {
    aurora = { engine_version = "16.6" }
  }

  assert {
    condition     = aws_rds_cluster.this.engine_version == "16.6" && aws_rds_cluster_instance.this.auto_minor_version_upgrade
    error_message = "A new cluster starts at the configured version and takes minor upgrades itself."
  }
}

run "a_later_engine_version_is_not_applied_in_place" {
  command = plan

  variables {
    aurora = { engine_version = "16.8" }
  }

  assert {
    condition     = aws_rds_cluster.this.engine_version == "16.6"
    error_message = "engine_version is ignored after creation (RDS owns minor upgrades); the plan keeps the cluster's version."
  }
}
