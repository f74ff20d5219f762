"""Data identity: manifests of files and their hashes, and the DVC adapter."""
