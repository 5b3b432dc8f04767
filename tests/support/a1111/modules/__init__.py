"""The fake ``modules`` package of AUTOMATIC1111's WebUI (see tests/support/a1111/__init__.py)."""
