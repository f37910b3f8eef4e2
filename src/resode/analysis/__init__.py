"""Stability analysis of trained blocks: spectra, stability regions, sensitivity, diagnosis."""

from .stability import *  # noqa: F403
