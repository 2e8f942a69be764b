variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "mlops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix must be 2-21 characters: lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "cidr_block" {
  description = "CIDR of the VPC (a /16 to /24)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 24
    error_message = "cidr_block must be an IPv4 CIDR between /16 and /24."
  }
}

variable "az_count" {
  description = "Availability zones to spread subnets over (Aurora needs at least 2)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "nat_gateway" {
  description = "Add one NAT gateway for the private subnets (about 33 USD/month + data). Off by default: MLflow's task runs in a public subnet with a public IP and a locked-down security group instead."
  type        = bool
  default     = false
}

variable "flow_logs_retention_days" {
  description = "Retention of VPC flow logs; 0 turns flow logs off (they cost per GB ingested)."
  type        = number
  default     = 0
}
