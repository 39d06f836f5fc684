"""Reusable widgets: system monitor, configuration form, curve plots, log view."""
