"""The Mastodon client REST API (https://docs.joinmastodon.org/methods/), OAuth2, and
the shapes of its entities. Composition side of the core: it may import the feature
packages; they never import it."""
