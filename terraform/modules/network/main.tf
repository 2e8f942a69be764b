data "aws_availability_zones" "this" {
  #checkov:skip=CKV_AWS_394:Only the first az_count zones in name order (less those VPC links cannot use) are taken, so a new zone does not move existing subnets.
  state = "available"
}

locals {
  # Zone ids where API Gateway cannot place an HTTP API VPC link (the private subnets carry
  # MLflow's VPC link). One file, also read by `mlops-pipeline doctor`; zone ids are unique
  # across regions, so the regions' lists are merged.
  vpc_link_unsupported_zone_ids = toset(flatten(values(jsondecode(file("${path.module}/unsupported_vpc_link_zones.json")).regions)))

  # names and zone_ids come in the same order (sorted by name).
  usable_azs = [
    for i, name in data.aws_availability_zones.this.names : name
    if !contains(local.vpc_link_unsupported_zone_ids, data.aws_availability_zones.this.zone_ids[i])
  ]
  azs = slice(local.usable_azs, 0, min(var.az_count, length(local.usable_azs)))
  # /16 -> public /20s first, private /20s after (newbits 4).
  public_cidrs  = [for i in range(var.az_count) : cidrsubnet(var.cidr_block, 4, i)]
  private_cidrs = [for i in range(var.az_count) : cidrsubnet(var.cidr_block, 4, i + 8)]
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Flow logs are optional (flow_logs_retention_days) because they cost per GB; see the aws_flow_log below.
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = "${var.name_prefix}-vpc" })
}

# The default security group allows nothing.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name_prefix}-default-deny" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name_prefix}-igw" })
}

resource "aws_subnet" "public" {
  count = var.az_count

  vpc_id                  = aws_vpc.this.id
  cidr_block              = local.public_cidrs[count.index]
  availability_zone       = element(local.azs, count.index)
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name_prefix}-public-${element(local.azs, count.index)}", Tier = "public" })
}

resource "aws_subnet" "private" {
  count = var.az_count

  vpc_id            = aws_vpc.this.id
  cidr_block        = local.private_cidrs[count.index]
  availability_zone = element(local.azs, count.index)
  tags              = merge(var.tags, { Name = "${var.name_prefix}-private-${element(local.azs, count.index)}", Tier = "private" })

  lifecycle {
    precondition {
      condition     = length(local.azs) == var.az_count
      error_message = "The region has ${length(local.usable_azs)} available zone(s) that can hold an HTTP API VPC link (${join(", ", local.usable_azs)}); az_count is ${var.az_count}. Lower az_count, or pass existing_network to the root."
    }
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name_prefix}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = var.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name_prefix}-private" })
}

resource "aws_route_table_association" "private" {
  count = var.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

resource "aws_eip" "nat" {
  count = var.nat_gateway ? 1 : 0

  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name_prefix}-nat" })
}

resource "aws_nat_gateway" "this" {
  count = var.nat_gateway ? 1 : 0

  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id
  tags          = merge(var.tags, { Name = "${var.name_prefix}-nat" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route" "private_nat" {
  count = var.nat_gateway ? 1 : 0

  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[0].id
}

# Optional flow logs (REJECT only: enough to debug security groups, cheap).
resource "aws_cloudwatch_log_group" "flow" {
  count = var.flow_logs_retention_days > 0 ? 1 : 0
  #checkov:skip=CKV_AWS_158:Flow logs carry addresses and ports only; CloudWatch's own encryption at rest is enough here.
  #checkov:skip=CKV_AWS_338:Retention is the flow_logs_retention_days variable.

  name              = "/aws/vpc/${var.name_prefix}-flow"
  retention_in_days = var.flow_logs_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow" {
  count = var.flow_logs_retention_days > 0 ? 1 : 0

  name               = "${var.name_prefix}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "flow" {
  count = var.flow_logs_retention_days > 0 ? 1 : 0

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow" {
  count = var.flow_logs_retention_days > 0 ? 1 : 0

  name   = "flow-logs"
  role   = aws_iam_role.flow[0].id
  policy = data.aws_iam_policy_document.flow[0].json
}

resource "aws_flow_log" "this" {
  count = var.flow_logs_retention_days > 0 ? 1 : 0

  vpc_id          = aws_vpc.this.id
  traffic_type    = "REJECT"
  log_destination = aws_cloudwatch_log_group.flow[0].arn
  iam_role_arn    = aws_iam_role.flow[0].arn
  tags            = var.tags
}
