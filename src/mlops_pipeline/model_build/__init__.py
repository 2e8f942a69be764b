"""What CodeBuild runs: train under an MLflow run, register, export, package the serving image."""
