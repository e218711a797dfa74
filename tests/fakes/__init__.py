"""In-memory fakes of the repositories logic receives as Protocols (switchboard.logic.repositories)."""
