"""The customer console: server-rendered pages over the public API, with nothing the API cannot do (docs/console.md)."""
