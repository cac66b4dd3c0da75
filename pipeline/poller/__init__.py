"""Poller stage: fetch RSS/Atom feeds, turn new items into Articles, publish to Kafka."""
