"""Unseen: governed multi-party computation for consortia.

See ``offchain/README.md`` for the layers and their dependency order.
"""

__version__ = "0.1.0"
