# Security-relevant settings of a target account, against a mocked AWS provider.
mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "222222222222" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::222222222222:role/mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:222222222222:log-group:mock" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:222222222222:function:mlops-inference", version = "1" }
  }
}

variables {
  environment           = "stage"
  placeholder_zip       = { path = "placeholder.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
  artifacts_bucket_arn  = "arn:aws:s3:::mlops-artifacts-abc"
  artifacts_kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
  image_repository_arn  = "arn:aws:ecr:us-east-1:111111111111:repository/mlops/serving"
  deployer_role_arns = [
    "arn:aws:iam::111111111111:role/mlops-deploy-stage-lambda",
    "arn:aws:iam::111111111111:role/mlops-rollback-stage-lambda",
  ]
  smoke_test_role_arns = ["arn:aws:iam::111111111111:role/mlops-smoke-test-stage-lambda"]
}

run "deploy_role_is_least_privilege" {
  command = apply

  assert {
    condition     = jsonencode(sort(flatten([for s in data.aws_iam_policy_document.deploy_assume.statement : [for p in s.principals : tolist(p.identifiers) if p.type == "AWS"]]))) == jsonencode(sort(var.deployer_role_arns))
    error_message = "Only this environment's tooling deploy and rollback roles may assume the deploy role."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.deploy_assume.statement : jsonencode(s.actions) == jsonencode(["sts:AssumeRole"])])
    error_message = "The trust policy allows sts:AssumeRole only."
  }

  assert {
    condition = jsonencode(sort(one([for s in data.aws_iam_policy_document.deploy.statement : s.actions if s.sid == "DeployInferenceFunction"]))) == jsonencode(sort([
      "lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
      "lambda:UpdateFunctionCode", "lambda:PublishVersion", "lambda:ListVersionsByFunction",
    ]))
    error_message = "The deploy role may only make the deployer's Lambda calls (the smoke test invokes through the invoke role)."
  }

  assert {
    condition = jsonencode(sort(one([for s in data.aws_iam_policy_document.deploy.statement : s.resources if s.sid == "DeployInferenceFunction"]))) == jsonencode([
      "arn:aws:lambda:us-east-1:222222222222:function:mlops-inference", "arn:aws:lambda:us-east-1:222222222222:function:mlops-inference:*",
    ])
    error_message = "The deploy role is scoped to the one inference function and its qualifiers."
  }

  assert {
    condition     = alltrue(flatten([for d in [data.aws_iam_policy_document.deploy, data.aws_iam_policy_document.execution, data.aws_iam_policy_document.invoke] : [for s in d.statement : [for a in s.actions : !strcontains(a, "*")]]]))
    error_message = "No wildcard actions."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.deploy.statement : !contains(s.resources, "*")])
    error_message = "The deploy role has no * resources."
  }
}

# The smoke test gets its own role: it may invoke the alias and nothing else, and only this
# environment's smoke test function may assume it.
run "smoke_test_gets_an_invoke_only_role" {
  command = apply

  assert {
    condition     = jsonencode(flatten([for s in data.aws_iam_policy_document.invoke_assume.statement : [for p in s.principals : tolist(p.identifiers) if p.type == "AWS"]])) == jsonencode(var.smoke_test_role_arns)
    error_message = "Only this environment's smoke test role may assume the invoke role."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.invoke_assume.statement : jsonencode(s.actions) == jsonencode(["sts:AssumeRole"])])
    error_message = "The invoke role's trust policy allows sts:AssumeRole only."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.invoke.statement : { actions = s.actions, resources = s.resources }]) == jsonencode([{
      actions = ["lambda:InvokeFunction"], resources = ["arn:aws:lambda:us-east-1:222222222222:function:mlops-inference:live"]
    }])
    error_message = "The invoke role may only invoke the alias live."
  }

  assert {
    condition     = length(setintersection(flatten([for s in data.aws_iam_policy_document.deploy_assume.statement : [for p in s.principals : tolist(p.identifiers)]]), var.smoke_test_role_arns)) == 0
    error_message = "The smoke test role may not assume the deploy role."
  }

  assert {
    condition     = output.deploy_target.invoke_role_arn == aws_iam_role.invoke.arn && output.deploy_target.role_arn == aws_iam_role.deploy.arn
    error_message = "deploy_target hands the pipeline both roles."
  }
}

run "rejects_a_smoke_test_role_that_is_a_deployer" {
  command = plan

  variables {
    smoke_test_role_arns = ["arn:aws:iam::111111111111:role/mlops-deploy-stage-lambda"]
  }

  expect_failures = [var.smoke_test_role_arns]
}

run "function_is_a_zip_with_alias_live" {
  command = apply

  assert {
    condition     = aws_lambda_function.this.package_type == "Zip" && jsonencode(aws_lambda_function.this.architectures) == jsonencode(["arm64"])
    error_message = "Inference runs a zip on arm64 by default."
  }

  assert {
    condition = (
      aws_lambda_function.this.filename == "placeholder.zip" && aws_lambda_function.this.image_uri == null &&
      aws_lambda_function.this.handler == "serving.handler.handler" && aws_lambda_function.this.runtime == "python3.12"
    )
    error_message = "The function starts from the placeholder zip, with the serving runtime's handler on python3.12."
  }

  assert {
    condition     = length(aws_lambda_function.this.snap_start) == 0
    error_message = "SnapStart is off unless asked for (it costs per version and per restore)."
  }

  assert {
    condition     = aws_lambda_alias.live.name == "live" && aws_lambda_alias.live.function_version == "1"
    error_message = "Alias live points at the first published version."
  }

  assert {
    condition     = length(aws_lambda_function_url.live) == 0
    error_message = "No Function URL unless asked for."
  }
}

# What the pipeline moves must stay where the pipeline put it: a later apply with another
# placeholder leaves the function's code and the alias alone (lifecycle ignore_changes).
run "pipeline_owned_attributes_are_ignored" {
  command = plan

  variables {
    placeholder_zip = { path = "other.zip", base64sha256 = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=" }
  }

  assert {
    condition     = aws_lambda_function.this.filename == "placeholder.zip" && aws_lambda_function.this.source_code_hash == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    error_message = "Changed code must not be planned: the pipeline owns the function's code."
  }

  assert {
    condition     = aws_lambda_alias.live.function_version == "1"
    error_message = "The alias version must not be planned: the pipeline owns it."
  }
}

run "function_url_uses_iam_auth" {
  command = apply

  variables {
    function_url = true
  }

  assert {
    condition     = aws_lambda_function_url.live[0].authorization_type == "AWS_IAM" && aws_lambda_function_url.live[0].qualifier == "live"
    error_message = "The Function URL is on alias live with IAM auth."
  }
}

# The deploy role reads serving zips (UpdateFunctionCode from S3 reads with the caller's rights):
# GetObject(Version) under the prefix of the one bucket, Decrypt with its key through S3 only.
run "deploy_role_reads_only_the_serving_zips" {
  command = apply

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.deploy.statement : { actions = sort(s.actions), resources = s.resources } if s.sid == "ReadServingZips"]) == jsonencode([{
      actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["arn:aws:s3:::mlops-artifacts-abc/serving/*"]
    }])
    error_message = "The deploy role may read the serving zips of the artifacts bucket and nothing else there."
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.deploy.statement :
      s.sid == "DecryptServingZips" && jsonencode(s.actions) == jsonencode(["kms:Decrypt"]) && jsonencode(s.resources) == jsonencode([var.artifacts_kms_key_arn]) &&
      anytrue([for c in s.condition : c.variable == "kms:ViaService" && jsonencode(c.values) == jsonencode(["s3.us-east-1.amazonaws.com"])])
    ])
    error_message = "The deploy role may decrypt with the artifacts key, through S3 only."
  }

  assert {
    condition     = !anytrue([for s in data.aws_iam_policy_document.deploy.statement : anytrue([for a in s.actions : startswith(a, "ecr:")])])
    error_message = "A zip function's deploy role reads no images."
  }

  assert {
    condition     = output.deploy_target.function_name == "mlops-inference" && output.deploy_target.alias == "live"
    error_message = "deploy_target names the function and alias."
  }
}

# The image option: an image function from the placeholder image, ECR reads instead of S3.
run "image_option" {
  command = apply
  # A fresh state: switching an existing function's package type replaces it (the provider's
  # ForceNew, which the mock provider does not plan).
  state_key = "image"

  variables {
    package_type      = "Image"
    initial_image_uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving:placeholder"
  }

  assert {
    condition     = aws_lambda_function.this.package_type == "Image" && aws_lambda_function.this.image_uri == var.initial_image_uri && aws_lambda_function.this.filename == null
    error_message = "package_type Image creates an image function from initial_image_uri."
  }

  assert {
    condition = (
      jsonencode(sort([for s in data.aws_iam_policy_document.deploy.statement : s.sid])) == jsonencode(["DeployInferenceFunction", "ReadServingImages"]) &&
      jsonencode(one([for s in data.aws_iam_policy_document.deploy.statement : s.resources if s.sid == "ReadServingImages"])) == jsonencode([var.image_repository_arn])
    )
    error_message = "An image function's deploy role reads the serving repository, not the bucket."
  }
}

run "architecture_and_snapstart" {
  command = apply

  variables {
    architecture = "x86_64"
    snapstart    = true
  }

  assert {
    condition     = jsonencode(aws_lambda_function.this.architectures) == jsonencode(["x86_64"])
    error_message = "The function runs on the configured architecture."
  }

  assert {
    condition     = one(aws_lambda_function.this.snap_start).apply_on == "PublishedVersions"
    error_message = "SnapStart applies to published versions (the pipeline publishes one per deploy)."
  }
}

run "rejects_snapstart_for_images" {
  command = plan

  variables {
    package_type      = "Image"
    initial_image_uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving:placeholder"
    snapstart         = true
  }

  expect_failures = [var.snapstart]
}

run "rejects_an_unknown_architecture" {
  command = plan

  variables {
    architecture = "aarch64"
  }

  expect_failures = [var.architecture]
}

run "rejects_account_root_as_deployer" {
  command = plan

  variables {
    deployer_role_arns = ["arn:aws:iam::111111111111:root"]
  }

  expect_failures = [var.deployer_role_arns]
}
