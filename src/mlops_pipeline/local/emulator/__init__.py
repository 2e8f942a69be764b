"""The AWS emulator: moto run in-process as a server, with three accounts and small, tested extensions.

What moto lacks and the pipeline needs lives here: a Lambda runtime that runs each function's
*deployed* code in a subprocess with its configured environment (and image functions from the local
image store), a CodeBuild runtime that runs a buildspec against a checkout of the commit and answers
Step Functions' ``startBuild.sync``, EventBridge delivery to Step Functions, and the fixes Terraform's
AWS provider needs. It knows nothing of the pipeline's local stack (``mlops_pipeline.local.stack``):
an import from there is a layering error, and ``tests/unit/test_import_direction.py`` fails on one.
"""
