"""What a function's module does around its imports, for a shorter cold start.

Every object the imports create (modules, classes, pydantic validators, the resolver and its
routes) lives as long as the execution environment, yet the garbage collector runs again and
again while they load and walks them all, each time finding nothing: about a sixth of a
function's cold import (`make bench`). So a function's app.py turns collection off before its
first import and calls `imports_done()` after its last: what was loaded is then frozen (moved
out of the collector's sight, so a later full collection during an invocation does not walk it
again) and collection resumes for the objects invocations make.
"""

from __future__ import annotations

import gc


def imports_done() -> None:
    gc.freeze()
    gc.enable()
