"""Public routes under /api/v1, one module per service, plus health."""
