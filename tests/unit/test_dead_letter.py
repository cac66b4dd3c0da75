from pipeline.kafka.dead_letter import DeadLetter


def test_text_payload_round_trips() -> None:
    letter = DeadLetter.build(stage="decode", reason="invalid Article message: id missing",
                              error_type="ArticleDecodeError", payload=b'{"x": 1}', key=b"k1",
                              source_topic="raw", source_partition=2, source_offset=41)
    decoded = DeadLetter.from_json_bytes(letter.to_json_bytes())
    assert decoded == letter
    assert decoded.payload_encoding == "utf-8"
    assert decoded.original_payload() == b'{"x": 1}'
    assert (decoded.source_partition, decoded.source_offset) == (2, 41)


def test_binary_payload_is_kept_exactly() -> None:
    junk = bytes(range(256))
    letter = DeadLetter.build(stage="decode", reason="r", error_type="E", payload=junk)
    decoded = DeadLetter.from_json_bytes(letter.to_json_bytes())
    assert decoded.payload_encoding == "base64"
    assert decoded.original_payload() == junk
    assert decoded.key is None


def test_reason_is_bounded() -> None:
    letter = DeadLetter.build(stage="enrich", reason="x" * 10_000, error_type="E", payload=b"")
    assert len(letter.reason) == 2000
