package ai.convoy.kernels.cuda;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * The addresses JCuda's handles hold. A device pointer's address is its handle plus its byte offset; JCuda's own
 * equals compares handles alone, so pointers into one buffer at different offsets would compare equal.
 */
final class DevicePointers {
    private static final VarHandle NATIVE_POINTER;
    private static final VarHandle BYTE_OFFSET;

    static {
        try {
            NATIVE_POINTER = MethodHandles.privateLookupIn(NativePointerObject.class, MethodHandles.lookup())
                    .findVarHandle(NativePointerObject.class, "nativePointer", long.class);
            BYTE_OFFSET = MethodHandles.privateLookupIn(Pointer.class, MethodHandles.lookup()).findVarHandle(Pointer.class, "byteOffset", long.class);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("JCuda's handles cannot be read", e);
        }
    }

    private DevicePointers() {
    }

    /** The native handle a JCuda object wraps (a context, stream, function or pointer). */
    static long handle(NativePointerObject object) {
        return (long) NATIVE_POINTER.get(object);
    }

    /** The device address a pointer stands for. */
    static long address(CUdeviceptr p) {
        return handle(p) + (long) BYTE_OFFSET.get(p);
    }

    /** Kernel arguments equal, device pointers by address. */
    static boolean sameArguments(Object[] a, Object[] b) {
        if (a.length != b.length) {
            return false;
        }
        for (int i = 0; i < a.length; i++) {
            boolean same = a[i] instanceof CUdeviceptr p && b[i] instanceof CUdeviceptr q ? address(p) == address(q) : a[i].equals(b[i]);
            if (!same) {
                return false;
            }
        }
        return true;
    }

    static int argumentsHash(Object[] args) {
        int h = 1;
        for (Object a : args) {
            h = 31 * h + (a instanceof CUdeviceptr p ? Long.hashCode(address(p)) : a.hashCode());
        }
        return h;
    }
}
