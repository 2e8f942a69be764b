"""``python -m mlops_pipeline.local.stack.slack_standin``: run the Slack stand-in in the foreground."""

from mlops_pipeline.local.stack.slack_standin.server import main

main()
