"""The requester side: SDK (plan, request, verify, pay), datasets, grants, audit trails."""
