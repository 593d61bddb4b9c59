"""Lambda handler tests (moto in-process)."""
