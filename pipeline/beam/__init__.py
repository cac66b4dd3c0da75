"""The Apache Beam streaming job: Kafka -> clean/enrich -> Elasticsearch (+ dead letters)."""
