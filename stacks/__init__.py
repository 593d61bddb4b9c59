"""Stacks of the ML pipeline app.

Our construct modules live in the top-level ``constructs/`` folder, which deliberately has no ``__init__.py``: a
regular package of that name would shadow the ``constructs`` library that cdktf itself imports. Instead we add the
folder to the library package's search path (what ``pkgutil.extend_path`` does for split packages), so our modules
import as ``constructs.<module>`` while ``constructs.Construct`` stays the library's.
"""

from pathlib import Path

import constructs as _constructs_library

_OUR_CONSTRUCTS = str(Path(__file__).resolve().parent.parent / "constructs")
if _OUR_CONSTRUCTS not in _constructs_library.__path__:
    _constructs_library.__path__.append(_OUR_CONSTRUCTS)
