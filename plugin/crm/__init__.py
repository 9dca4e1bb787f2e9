"""CRM adapters (Salesforce on simple-salesforce, HubSpot on hubspot-api-client) behind
``plugin.providers.crm.CrmAdapter``, their factory and the widget context.

SDK imports happen when an adapter is built, so importing this package stays cheap.
"""

from plugin.crm.factory import (
    adapter_for,
    connection_for,
    interactive,
    oauth_app,
    save_connection,
)
from plugin.crm.tokens import OAuthApp, OAuthTokens
from plugin.crm.widget import call_history, call_score, record_summary, widget_context

__all__ = ["interactive", "adapter_for", "connection_for", "oauth_app", "save_connection",
           "OAuthApp", "OAuthTokens", "widget_context", "record_summary", "call_history",
           "call_score"]
