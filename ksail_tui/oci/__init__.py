"""Workload versions as Flux OCI artifacts.

``service`` is the entry point (build, push, list, diff and prune a workload's versions); ``build``
packs a folder reproducibly, ``manifests`` validates it, ``ignore`` holds Flux's ignore rules,
``artifact_format`` the media types and the structural check, and ``registry_client`` speaks the
OCI distribution API. Nothing here imports textual, kubernetes or docker.
"""
