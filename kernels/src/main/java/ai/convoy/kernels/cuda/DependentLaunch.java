package ai.convoy.kernels.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;
import jcuda.CudaException;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/**
 * Kernel launches with programmatic dependent launch (compute capability 9.0 and newer): a kernel may start while the
 * one before it in the stream still runs, loading its weights, and waits for that one on the GPU ({@code pdl_wait} in
 * common.cuh), so the launch, ramp and first loads of each kernel overlap the tail of the one before. Inside a captured
 * graph the edges become programmatic ones. JCuda 12.6 has no {@code cuLaunchKernelEx}: it is called in libcuda
 * through the foreign function API, with the handles JCuda holds.
 */
final class DependentLaunch {
    /** CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION of cuda.h. */
    private static final int PROGRAMMATIC_STREAM_SERIALIZATION = 6;
    /** sizeof(CUlaunchConfig): seven unsigned ints, then the stream, the attributes and their count, 8-aligned. */
    private static final long CONFIG_BYTES = 56;
    /** sizeof(CUlaunchAttribute): the id padded to 8 bytes and a 64-byte value union. */
    private static final long ATTRIBUTE_BYTES = 72;

    private final MethodHandle launchKernelEx;

    private DependentLaunch(MethodHandle launchKernelEx) {
        this.launchKernelEx = launchKernelEx;
    }

    /** The launcher, or empty where libcuda has no cuLaunchKernelEx (drivers before CUDA 11.8). */
    static Optional<DependentLaunch> open() {
        Optional<MemorySegment> symbol = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global()).find("cuLaunchKernelEx");
        if (symbol.isEmpty()) {
            return Optional.empty();
        }
        MethodHandle launch = Linker.nativeLinker().downcallHandle(symbol.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        return Optional.of(new DependentLaunch(launch));
    }

    /** Launches {@code function} on {@code stream} with the arguments of a Launch (device pointers, int, long, float). */
    void launch(CUfunction function, int grid, int block, int shared, CUstream stream, Object[] args) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment attribute = arena.allocate(ATTRIBUTE_BYTES, 8);
            attribute.set(ValueLayout.JAVA_INT, 0, PROGRAMMATIC_STREAM_SERIALIZATION);
            attribute.set(ValueLayout.JAVA_INT, 8, 1);
            MemorySegment config = arena.allocate(CONFIG_BYTES, 8);
            config.set(ValueLayout.JAVA_INT, 0, grid);
            config.set(ValueLayout.JAVA_INT, 4, 1);
            config.set(ValueLayout.JAVA_INT, 8, 1);
            config.set(ValueLayout.JAVA_INT, 12, block);
            config.set(ValueLayout.JAVA_INT, 16, 1);
            config.set(ValueLayout.JAVA_INT, 20, 1);
            config.set(ValueLayout.JAVA_INT, 24, shared);
            config.set(ValueLayout.JAVA_LONG, 32, DevicePointers.handle(stream));
            config.set(ValueLayout.ADDRESS, 40, attribute);
            config.set(ValueLayout.JAVA_INT, 48, 1);
            MemorySegment params = arena.allocate(ValueLayout.ADDRESS, args.length);
            for (int i = 0; i < args.length; i++) {
                MemorySegment value = switch (args[i]) {
                    case CUdeviceptr p -> arena.allocateFrom(ValueLayout.JAVA_LONG, DevicePointers.address(p));
                    case Integer v -> arena.allocateFrom(ValueLayout.JAVA_INT, v);
                    case Long v -> arena.allocateFrom(ValueLayout.JAVA_LONG, v);
                    case Float v -> arena.allocateFrom(ValueLayout.JAVA_FLOAT, v);
                    default -> throw new IllegalArgumentException("kernel argument " + args[i]);
                };
                params.setAtIndex(ValueLayout.ADDRESS, i, value);
            }
            int result = (int) launchKernelEx.invokeExact(config, MemorySegment.ofAddress(DevicePointers.handle(function)), params, MemorySegment.NULL);
            if (result != 0) {
                throw new CudaException("cuLaunchKernelEx failed with CUresult " + result);
            }
        } catch (CudaException | IllegalArgumentException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("cuLaunchKernelEx could not be called", e);
        }
    }
}
