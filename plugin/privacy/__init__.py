"""Privacy: PII redaction before cloud models, and the data-subject tools (export, erase,
retention, recording consent) of docs/privacy.md.

``from plugin.privacy import redact`` stays the redaction entry point; the other modules are
imported where used (they need the database, redaction does not).
"""

from plugin.privacy.redact import redact

__all__ = ["redact"]
