"""outbox: see README.md, Architecture."""
