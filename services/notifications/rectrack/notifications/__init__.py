"""rectrack notifications service: delivery of e-mail, signed webhooks and in-app inbox notices."""
