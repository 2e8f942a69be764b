output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (MLflow task with a public IP, ALB)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (Aurora, VPC link)."
  value       = aws_subnet.private[*].id
}

output "nat_gateway" {
  description = "Whether the private subnets reach the internet through a NAT gateway."
  value       = var.nat_gateway
}
