"""An address held in an int64 as a pointer, for numba's carray (the state words
hold the host addresses of memories and of other cores' state words)."""
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def pointer(typingctx, address):
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(types.int64), codegen
