"""Settings for the test suite: the project's settings, with tasks run in the request.

A test that is about the worker switches to the database backend itself (``settings.TASKS``)
or starts a real ``db_worker`` process.
"""

import os

os.environ.setdefault("TASKS_BACKEND", "immediate")

from config.settings import *  # noqa: E402, F403
