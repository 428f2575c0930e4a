"""The gateway: the one public API (authentication, authorisation, composition); it has no database."""
