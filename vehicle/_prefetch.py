"""A cache prefetch hint for numba kernels (llvm.prefetch).

In a fleet simulation each vehicle's grids leave the core's L2 between two
of its scans (the other vehicles' work runs in between); a kernel that
walks a window of such a grid row by row stalls on the first miss of each
row.  Prefetching the window's cache lines first lets the misses overlap.
A prefetch never changes a result and never faults (an address outside
the array is harmless)."""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic

#: llvm.prefetch locality: 3 = keep in every cache level (prefetcht0);
#: 2 = L2 (prefetcht1): for windows larger than L1, where bringing them to
#: L1 would evict what is in use.
LOCALITY_ALL = 3
LOCALITY_L2 = 2


def _prefetch_intrinsic(locality: int, doc: str):
    def typer(typingctx, arr, idx):
        if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
            return None
        sig = types.void(arr, idx)

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            i8p = ir.IntType(8).as_pointer()
            ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
            # (address, 0 = read, locality, 1 = data cache)
            builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, locality), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return sig, codegen

    typer.__doc__ = doc
    return intrinsic(typer)


prefetch = _prefetch_intrinsic(LOCALITY_ALL, """Hint the CPU to bring the cache line holding ``arr[idx]``
    (a 1-D or flat index into a C-contiguous array) into every cache level, for reading.""")
prefetch_l2 = _prefetch_intrinsic(LOCALITY_L2, """Hint the CPU to bring the cache line holding ``arr[idx]``
    (a 1-D or flat index into a C-contiguous array) into L2, for reading.""")
