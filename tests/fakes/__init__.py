"""Fakes for tests: real servers and resolvers on loopback, never mocks of aiohttp."""
