"""Secure scripts: approved programs over secret arrays, run by the three compute nodes (``script``).

See ``docs/SCRIPTS.md``.
"""
