"""webfinger: see README.md, Architecture."""
