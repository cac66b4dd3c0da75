"""Thin output edges (Elasticsearch)."""
