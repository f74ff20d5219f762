"""Constrained AutoML: use-case and deployment presets, limits measured on the artifact that ships."""
