"""torch.func's function transforms over arraylib: ``vmap``, ``grad``,
``grad_and_value``, ``vjp``, ``jvp``, ``linearize``, ``jacrev``, ``jacfwd``,
``hessian``, ``functional_call``, ``stack_module_state``.

Arguments and results are pytrees (tuples, lists, dicts) of tensors; transforms nest
(``vmap(grad(f))``, ``jacfwd(jacrev(f))``).  torch.autograd.functional's spelling
(``jacobian(f, inputs)``, ``hessian(f, inputs)``, ``hvp``, ``vhp``) is
``arraylib.autograd.functional``.
"""
from __future__ import annotations

from ._vmap import vmap
from ._transforms import (grad, grad_and_value, vjp, jvp, linearize, jacrev, jacfwd,
                          hessian)
from ._module_state import functional_call, stack_module_state

__all__ = ["vmap", "grad", "grad_and_value", "vjp", "jvp", "linearize", "jacrev", "jacfwd",
           "hessian", "functional_call", "stack_module_state"]
