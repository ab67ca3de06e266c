"""Stand-ins for a cluster, for the demo and the tests: a Kubernetes API emulator (``apiserver``),
simulated Flux controllers (``flux``), a Job runner and an ingress controller. Not part of the product:
the core never imports it (import-linter contracts in pyproject.toml)."""
