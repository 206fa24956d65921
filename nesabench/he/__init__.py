"""Shared pieces of the homomorphic-encryption baselines (TenSEAL CKKS, Concrete ML TFHE)."""
