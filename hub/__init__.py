"""SLRT Hub: one unified, audited view of every agency's social-protection data."""

__version__ = "0.1.0"
