"""actors: see README.md, Architecture."""
