package ai.convoy.kernels.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;
import jcuda.driver.CUdeviceptr;

/**
 * A step's device workspace: activations and small per-step buffers are carved out of a few large chunks and all
 * released at once at the end of the step, so a decode step makes no cuMemAlloc or cuMemFree call (cuMemFree waits
 * for the device). Chunks are kept for the next step; a step that needs more adds a chunk.
 */
final class DeviceArena {
    private static final long MIN_CHUNK = 64L << 20;
    private static final long ALIGN = 256;

    private record Chunk(CUdeviceptr base, long size) {
    }

    private final LongFunction<CUdeviceptr> allocate;
    private final List<Chunk> chunks = new ArrayList<>();
    private int current;
    private long used;

    DeviceArena(LongFunction<CUdeviceptr> allocate) {
        this.allocate = allocate;
    }

    CUdeviceptr take(long bytes) {
        long size = Math.max(ALIGN, (bytes + ALIGN - 1) / ALIGN * ALIGN);
        while (current < chunks.size()) {
            Chunk c = chunks.get(current);
            if (used + size <= c.size()) {
                CUdeviceptr p = c.base().withByteOffset(used);
                used += size;
                return p;
            }
            current++;
            used = 0;
        }
        Chunk c = new Chunk(allocate.apply(Math.max(MIN_CHUNK, size)), Math.max(MIN_CHUNK, size));
        chunks.add(c);
        used = size;
        return c.base();
    }

    /** Everything taken so far may be reused (the caller has waited for the device). */
    void reset() {
        current = 0;
        used = 0;
    }

    /** The chunks, for freeing. */
    List<CUdeviceptr> release() {
        List<CUdeviceptr> out = chunks.stream().map(Chunk::base).toList();
        chunks.clear();
        reset();
        return out;
    }
}
