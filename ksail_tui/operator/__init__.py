"""The Environment operator: Project and Environment custom resources, one isolated namespace
per Environment, honest status.

The decisions live in pure modules (:mod:`.reconcile` and what it uses) that know nothing of
kopf; :mod:`.kopf_app` is the only module that imports kopf, a thin shell that observes,
calls :func:`.reconcile.reconcile`, applies what it returns and writes the status.
"""
