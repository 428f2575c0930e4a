"""rectrack.common: the contracts and plumbing every rectrack process shares."""
