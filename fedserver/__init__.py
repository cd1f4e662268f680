"""fedserver: a federated ActivityPub server. This package is the core and composition root."""

__version__ = "0.1.0"
