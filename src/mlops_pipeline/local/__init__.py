"""Local mode: the whole multi-account pipeline on one machine, with no AWS account and no Docker.

Two layers, imported in one direction only: ``emulator`` is an AWS emulator (moto, extended), and
``stack`` is the local stack that runs the pipeline on it. The emulator imports nothing of the stack.
"""
