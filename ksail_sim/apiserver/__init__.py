"""A Kubernetes API emulator: the store, the HTTP server kubectl and the official client talk to, and its
built-in controllers."""
