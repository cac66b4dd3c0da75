"""newspipe: RSS/Atom pollers -> Kafka -> Apache Beam enrichment -> Elasticsearch."""

__version__ = "0.1.0"
