"""rectrack.recommendations: reports, per-body recommendation tracking, evidence and escalation."""
