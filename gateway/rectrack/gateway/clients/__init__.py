"""One typed client per downstream service, all built on clients.base.ServiceClient."""
