"""The ``reprise`` command line: thin commands over the library, text or ``--json`` output."""
