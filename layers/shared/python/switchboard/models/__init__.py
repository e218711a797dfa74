"""Request/response contracts, domain types and errors."""
