# Auto-pause at 0 ACU needs Aurora PostgreSQL 13.15+, 14.12+, 15.7+, 16.3+ or 17+: the aurora
# variable refuses an older version with min_capacity 0 and accepts it with a minimum above 0.
mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  vpc_id             = "vpc-0123456789abcdef0"
  task_subnet_ids    = ["subnet-0aaaaaaaaaaaaaaa1"]
  private_subnet_ids = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
  kms_key_arn        = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
}

run "default_version_pauses_at_zero" {
  command = plan

  assert {
    condition     = aws_rds_cluster.this.engine == "aurora-postgresql" && aws_rds_cluster.this.engine_version == "16.6" && aws_rds_cluster.this.serverlessv2_scaling_configuration[0].min_capacity == 0
    error_message = "By default Aurora PostgreSQL 16.6 (auto-pause capable) at 0 ACU."
  }
}

run "version_without_auto_pause_is_refused_at_zero" {
  command = plan

  variables {
    aurora = { engine_version = "16.2" }
  }

  expect_failures = [var.aurora]
}

run "older_minor_of_another_major_is_refused_at_zero" {
  command = plan

  variables {
    aurora = { engine_version = "14.11" }
  }

  expect_failures = [var.aurora]
}

run "version_without_auto_pause_is_fine_above_zero" {
  command = plan

  variables {
    aurora = { engine_version = "16.2", min_capacity = 0.5 }
  }
}

run "newer_majors_pause_at_zero" {
  command = plan

  variables {
    aurora = { engine_version = "17.4" }
  }
}

run "engine_version_must_be_major_dot_minor" {
  command = plan

  variables {
    aurora = { engine_version = "16" }
  }

  expect_failures = [var.aurora]
}
