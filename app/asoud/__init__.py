"""ASOUD: a multi-vendor marketplace API, its workers and CLI."""

__version__ = "0.1.0"
