"""Command-line layer: one module per ``sightsound`` command (``add_arguments`` and ``run``); the library never imports it."""
