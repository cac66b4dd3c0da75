"""Thin Kafka edges: topic admin, the article publisher, dead letters."""
