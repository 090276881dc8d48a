"""What the tests share: namespaces, private servers, reference computations, fixtures.

Test modules import from here and never from one another or from a conftest
(tests/unit/test_suite_layout.py checks it).
"""
