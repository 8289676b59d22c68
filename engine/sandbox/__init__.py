"""The sandbox in which tenant-authored scripts and expressions run.

Script tasks, gateway conditions, DMN cells and timer expressions are code written by tenants.
They are compiled by RestrictedPython under a policy that keeps RestrictedPython's rules (no
name or attribute starting with ``_``, guarded attribute, item and write access, no ``exec`` or
``eval``) and adds:

- imports, class definitions and introspection builtins (``globals``, ``vars``, ``open``…) are
  refused at compile time, with the line;
- ``+ - * ** << %``, f-string fields and ``x[k] op= v`` go through guards that refuse, before
  building it, any sequence longer than ``max_sequence_length`` or any int wider than
  :data:`MAX_INT_BITS` bits;
- a tick runs at the top of every loop body, function, lambda, comprehension item and ``except``
  block; past the call's deadline it raises, and keeps raising, so user code cannot swallow the
  time limit. This needs no signal and works in any thread.

What scripts can reach is a small set of builtins (plus the sandbox's ``extra_globals``): data
types, a few bounded builtins, ``datetime``/``date``/``timedelta``/``Decimal`` and a ``math``
namespace. Memory is bounded per operation, not per run: see the caveat in :class:`Sandbox`.

The private modules, in the order a script meets them:

- ``_policy``: the AST rewriting, what is refused at compile time and where ticks go;
- ``_compile``: compiling under the policy, cached per source;
- ``_guards``: the functions the rewritten code calls instead of bare operations, with the size
  and int-width limits they enforce;
- ``_builtins``: every name a script can use besides its data;
- ``_data``: what counts as task data and how heavy a value may be to keep;
- ``_runtime``: the deadline, and :class:`Sandbox` and :class:`SandboxEnvironment` that tie it
  all together.
"""

from loanflow.engine.sandbox._guards import MAX_INT_BITS
from loanflow.engine.sandbox._runtime import Sandbox, SandboxEnvironment

__all__ = ["MAX_INT_BITS", "Sandbox", "SandboxEnvironment"]
