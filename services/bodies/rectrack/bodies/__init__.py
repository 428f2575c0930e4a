"""The bodies service: inspected bodies, their contacts, webhook settings and API keys."""
