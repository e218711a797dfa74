"""`switchboard`: the customers' command-line tool, a client of the public API and nothing else (docs/cli.md)."""
