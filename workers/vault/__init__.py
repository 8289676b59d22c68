"""Encrypted document store (SM2/SM3/SM4 digital envelopes)."""
