"""DeepLab from scratch: the helper package behind the course notebooks.

Import what you need from its modules, e.g. ``from dlcourse.env import setup``.
This file stays tiny on purpose: importing ``dlcourse`` loads nothing heavy.
"""

__version__ = "0.1.0"
