locals {
  db_port = 5432
}

resource "aws_db_subnet_group" "this" {
  name       = local.name
  subnet_ids = var.private_subnet_ids
  tags       = var.tags
}

# Aurora PostgreSQL Serverless v2 at 0 ACU when idle (auto-pause); the master password is
# managed (and rotated every 7 days) by RDS in Secrets Manager, so it never appears in Terraform
# state; the server reads it per new connection (docker/mlflow/rds_secret.py).
resource "aws_rds_cluster" "this" {
  cluster_identifier                  = local.name
  engine                              = "aurora-postgresql"
  engine_mode                         = "provisioned"
  engine_version                      = var.aurora.engine_version
  port                                = local.db_port
  database_name                       = "mlflow"
  master_username                     = "mlflow"
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = var.kms_key_arn
  storage_encrypted                   = true
  kms_key_id                          = var.kms_key_arn
  db_subnet_group_name                = aws_db_subnet_group.this.name
  vpc_security_group_ids              = [aws_security_group.db.id]
  backup_retention_period             = var.aurora.backup_retention_days
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = !var.deletion_protection
  final_snapshot_identifier           = var.deletion_protection ? "${local.name}-final" : null
  iam_database_authentication_enabled = true
  #checkov:skip=CKV_AWS_324:Log exports cost per GB ingested; MLflow's own logs go to CloudWatch from the task.
  #checkov:skip=CKV2_AWS_8:AWS Backup plans cost extra; Aurora's automated backups (backup_retention_days) cover point-in-time restore.
  #checkov:skip=CKV_AWS_133:backup_retention_period is var.aurora.backup_retention_days (default 7 days), which checkov cannot resolve.
  #checkov:skip=CKV_AWS_325:Audit log export bills per GB ingested into CloudWatch; MLflow authenticates and logs its API calls itself.
  #checkov:skip=CKV_AWS_139:deletion_protection is a variable (default true); throwaway environments turn it off.
  #checkov:skip=CKV2_AWS_27:Query logging would write every statement to CloudWatch Logs (cost per GB); MLflow logs its API calls itself.

  serverlessv2_scaling_configuration {
    min_capacity             = var.aurora.min_capacity
    max_capacity             = var.aurora.max_capacity
    seconds_until_auto_pause = var.aurora.min_capacity == 0 ? var.aurora.seconds_until_auto_pause : null
  }

  tags = var.tags

  lifecycle {
    # RDS upgrades minor versions itself (auto_minor_version_upgrade on the instance); the
    # configured version is where a new cluster starts, not a pin to go back to.
    ignore_changes = [engine_version]
  }
}

resource "aws_rds_cluster_instance" "this" {
  identifier                 = "${local.name}-1"
  cluster_identifier         = aws_rds_cluster.this.id
  instance_class             = "db.serverless"
  engine                     = aws_rds_cluster.this.engine
  auto_minor_version_upgrade = true
  publicly_accessible        = false
  #checkov:skip=CKV_AWS_118:Enhanced monitoring keeps an agent reporting every minute (cost, and it is not needed at 0 ACU).
  #checkov:skip=CKV_AWS_353:Performance Insights is not available while an instance is auto-paused at 0 ACU.
  #checkov:skip=CKV_AWS_354:Performance Insights is off (see above), so it has no key.
  tags = var.tags
}
