"""Shared pieces of the EZKL zero-knowledge baseline: visibility, SRS cache, circuit steps, tampering.

The pipeline itself lives in ``baselines/zk_ezkl.py``; these modules hold what a sweep over
workloads, visibilities and sizes shares (SRS files, the prove-time vs logrows scaling).
"""
