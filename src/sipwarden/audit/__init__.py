"""Static checks of PBX configuration: weak secrets, guest calls, open dial plans, exposed AMI.

Entry point: `audit_paths(paths) -> AuditReport` (see docs/audit.md).
"""
