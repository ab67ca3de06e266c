"""ksail-tui: one keyboard-driven screen for the local Flux + OCI GitOps loop."""

__version__ = "0.1.0"
