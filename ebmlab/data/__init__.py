"""Data: seeded 2-D toy datasets and scikit-learn's bundled digits (no download)."""

from .digits import Digits, digits, split_by_class
from .toy import TOY_NAMES, toy

__all__ = ["TOY_NAMES", "Digits", "digits", "split_by_class", "toy"]
