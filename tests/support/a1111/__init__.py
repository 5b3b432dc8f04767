"""A test double of the AUTOMATIC1111 WebUI host (1.6–1.10), following specs/a1111-host.md.

``modules/`` mirrors the parts of A1111's ``modules`` package an extension touches and
``launch.py`` the start-up helpers ``install.py`` uses. They are loaded fresh for each test
under their real names (``modules.shared``, ``launch``, …) by :mod:`tests.support.a1111.fixture`.
"""
