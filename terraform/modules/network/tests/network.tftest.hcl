mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:111111111111:log-group:mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111111111111:role/mock" }
  }
  mock_data "aws_availability_zones" {
    defaults = {
      names    = ["us-east-1a", "us-east-1b", "us-east-1c"]
      zone_ids = ["use1-az1", "use1-az2", "use1-az4"]
    }
  }
}

run "no_nat_by_default" {
  command = apply

  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_eip.nat) == 0
    error_message = "No NAT gateway (33 USD/month) unless asked for."
  }

  assert {
    condition     = length(aws_subnet.private) == 2 && length(aws_subnet.public) == 2 && alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch])
    error_message = "Two AZs; public subnets do not hand out public IPs by default."
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group allows nothing."
  }

  assert {
    condition     = length(aws_flow_log.this) == 0
    error_message = "Flow logs are opt-in."
  }
}

run "nat_on_request" {
  command = apply

  variables {
    nat_gateway              = true
    flow_logs_retention_days = 14
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route.private_nat) == 1
    error_message = "nat_gateway = true adds one NAT gateway and the private default route."
  }

  assert {
    condition     = aws_flow_log.this[0].traffic_type == "REJECT"
    error_message = "Flow logs record rejected traffic."
  }
}

run "rejects_one_az" {
  command = plan

  variables {
    az_count = 1
  }

  expect_failures = [var.az_count]
}

# API Gateway cannot place an HTTP API VPC link in some zones (unsupported_vpc_link_zones.json).
# In this account us-east-1a is use1-az3, one of them: the subnets skip it.
run "skips_zones_without_vpc_links" {
  command = plan

  override_data {
    target = data.aws_availability_zones.this
    values = {
      names    = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
      zone_ids = ["use1-az3", "use1-az1", "use1-az2", "use1-az4"]
    }
  }

  assert {
    condition     = jsonencode(aws_subnet.private[*].availability_zone) == jsonencode(["us-east-1b", "us-east-1c"])
    error_message = "The private subnets (the VPC link's) skip us-east-1a (use1-az3) and take the next zones in name order."
  }

  assert {
    condition     = jsonencode(aws_subnet.public[*].availability_zone) == jsonencode(["us-east-1b", "us-east-1c"])
    error_message = "The public subnets use the same zones as the private ones."
  }
}

run "fails_without_enough_vpc_link_zones" {
  command = plan

  override_data {
    target = data.aws_availability_zones.this
    values = {
      names    = ["us-west-1a", "us-west-1b"]
      zone_ids = ["usw1-az2", "usw1-az3"]
    }
  }

  expect_failures = [aws_subnet.private]
}
