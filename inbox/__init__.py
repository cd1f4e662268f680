"""inbox: see README.md, Architecture."""
