"""switchboard-ops: the operators' command-line tool (docs/operators.md)."""
