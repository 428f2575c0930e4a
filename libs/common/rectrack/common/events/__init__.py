"""Events: the envelope, stream and subject names, the transactional outbox, its relay, idempotent consumers."""
