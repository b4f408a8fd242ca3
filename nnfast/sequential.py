"""`nnfast.Sequential`, the one model: see nnfast/model.py (kept as a module for old imports)."""

from .model import Sequential

__all__ = ["Sequential"]
