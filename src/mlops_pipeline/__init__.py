"""Serverless MLOps pipeline for AWS."""

__version__ = "0.1.0"
