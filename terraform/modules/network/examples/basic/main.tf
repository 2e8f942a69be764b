# The default network: two AZs, no NAT gateway; also the fixture of the Terraform tests.
provider "aws" {
  region = "us-east-1"
}

module "network" {
  source = "../.."
}

output "private_subnet_ids" {
  description = "Private subnets."
  value       = module.network.private_subnet_ids
}
