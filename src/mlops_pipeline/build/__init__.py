"""mlops-pipeline."""
