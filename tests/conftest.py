"""Puts ``tests/`` on ``sys.path`` (pytest's rootdir conftest), so the shared
``contract_cases`` module is importable from every test folder."""
