import os

# Unit tests must never reach a real service by accident: point defaults at a closed port
# unless a test (the integration fixtures) sets them explicitly.
os.environ.setdefault("NEWSPIPE_STATE_DIR", "/tmp/newspipe-test-state")
