"""Post-call reports: assemble (``build``), chart (``charts``), render for the CRM (``render``)
and print (``pdf``). Pure functions over the report dict stored in ``Report.data``."""

from plugin.reports.build import build_report, stretches

__all__ = ["build_report", "stretches"]
