"""Loan contracts: PDF rendering, PAdES signatures, verification."""
