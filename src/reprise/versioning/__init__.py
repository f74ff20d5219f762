"""Versions and lineage: feature-pipeline versions, unified versions, and the lineage queries over the store."""
