"""Project templates that ``reprise quickstart`` writes out (data files, not code Reprise imports)."""
