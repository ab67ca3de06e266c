"""The Kind or K3d cluster's lifecycle: :class:`~ksail_tui.cluster.service.ClusterService` creates,
reports and deletes it; :func:`~ksail_tui.cluster.discovery.discover_clusters` finds every cluster
Docker runs."""
