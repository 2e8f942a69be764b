# One setting drives the architecture: lambda_architecture reaches the inference functions
# (stage and prod), the pipeline's functions, the build's ARCHITECTURE (the wheels' platform
# tag and the image --platform, tests/terraform/test_architecture.py checks the Python side)
# and the CodeBuild machine. Planned with mocked providers: only configured values are asserted.
mock_provider "aws" {
  source = "./tests/mocks/tooling"
}

mock_provider "aws" {
  alias  = "stage"
  source = "./tests/mocks/stage"
}

mock_provider "aws" {
  alias  = "prod"
  source = "./tests/mocks/prod"
}

variables {
  lambda_dist_dir = "tests/fixtures/packaged"
}

run "arm64_everywhere_by_default" {
  command = plan

  assert {
    condition = alltrue([for f in concat([module.stage.serving.architectures, module.prod.serving.architectures], [for f in module.pipeline.function_architectures : f]) :
    jsonencode(f) == jsonencode(["arm64"])])
    error_message = "Every function runs on arm64."
  }

  assert {
    condition     = module.pipeline.build_settings.architecture == "arm64" && module.pipeline.build_settings.type == "ARM_CONTAINER" && strcontains(module.pipeline.build_settings.image, "aarch64") && module.pipeline.build_settings.package_type == "Zip"
    error_message = "The build packages for arm64 on an ARM machine."
  }

  assert {
    condition     = module.stage.serving.package_type == "Zip" && module.prod.serving.package_type == "Zip" && !module.pipeline.build_settings.privileged_mode
    error_message = "Zip functions; the build needs no Docker."
  }
}

run "x86_64_everywhere" {
  command = plan

  variables {
    lambda_architecture = "x86_64"
  }

  assert {
    condition = alltrue([for f in concat([module.stage.serving.architectures, module.prod.serving.architectures], [for f in module.pipeline.function_architectures : f]) :
    jsonencode(f) == jsonencode(["x86_64"])])
    error_message = "Every function runs on x86_64."
  }

  assert {
    condition     = module.pipeline.build_settings.architecture == "x86_64" && module.pipeline.build_settings.type == "LINUX_CONTAINER" && strcontains(module.pipeline.build_settings.image, "x86_64")
    error_message = "The build packages for x86_64 on an x86_64 machine."
  }
}
