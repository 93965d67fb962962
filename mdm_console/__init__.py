"""mdm-console: the cockpit for a migration cutover window."""

__version__ = "0.1.0"
