"""CRM sandbox: one local HTTPS server speaking the subset of the Salesforce REST API and the
HubSpot CRM v3 API that Sales Coach uses, seeded with demo customers.

- ``plugin.sandbox.config``: credentials, CA and paths (``sandbox_credentials(settings)``).
- ``plugin.sandbox.app``: the Flask app (``create_sandbox_app(instance_path)``).
- ``plugin.sandbox.server``: ``start_sandbox(instance_path)`` for tests, ``serve`` for the CLI.
"""
