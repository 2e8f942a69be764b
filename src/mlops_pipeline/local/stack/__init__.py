"""The local stack: the pipeline running on the emulator, as ``mlops-pipeline local`` and ``demo`` use it.

A background daemon owns the emulator, a real ``mlflow server`` process, a Slack stand-in with a web
inbox (or real Slack), the interactions gateway and a git remote whose hook emits CodeCommit's event;
the harness (or ``terraform apply`` of ``terraform/live/local``) provisions the pipeline into it; the
CLI side reaches the daemon through ``stack.json`` and the emulator's endpoints. Everything here may use
``mlops_pipeline.local.emulator``; nothing there may use this package.
"""
