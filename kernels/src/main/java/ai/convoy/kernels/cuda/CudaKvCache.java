package ai.convoy.kernels.cuda;

import ai.convoy.kernels.DeviceOutOfMemoryException;
import ai.convoy.kernels.KvCache;
import ai.convoy.kernels.TokenBatch;
import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUdeviceptr;

/** Per slot, one device buffer of keys and one of values: [layers][capacity][kvHeads * headDim], float32 or bf16. */
final class CudaKvCache implements KvCache {
    private record Slot(CUdeviceptr keys, CUdeviceptr values, int capacity) {
    }

    private final CudaDevice device;
    private final int layers;
    private final int width;
    private final int elementBytes;
    private final List<Slot> slots = new ArrayList<>();

    CudaKvCache(CudaDevice device, int layers, int width, int elementBytes) {
        this.device = device;
        this.layers = layers;
        this.width = width;
        this.elementBytes = elementBytes;
    }

    /** 4 for float32, 2 for bf16. */
    int elementBytes() {
        return elementBytes;
    }

    int width() {
        return width;
    }

    @Override
    public synchronized int openSlot(int capacity) {
        long bytes = (long) elementBytes * layers * capacity * width;
        CUdeviceptr k = device.alloc(bytes, DeviceOutOfMemoryException.Use.KV_CACHE);
        CUdeviceptr v;
        try {
            v = device.alloc(bytes, DeviceOutOfMemoryException.Use.KV_CACHE);
        } catch (RuntimeException e) {
            device.free(k);
            throw e;
        }
        // zeroed, so positions never written (a benchmark's pretend prompt) read as zeros, not stale memory
        device.zero(k, bytes);
        device.zero(v, bytes);
        Slot slot = new Slot(k, v, capacity);
        for (int i = 0; i < slots.size(); i++) {
            if (slots.get(i) == null) {
                slots.set(i, slot);
                return i;
            }
        }
        slots.add(slot);
        return slots.size() - 1;
    }

    @Override
    public synchronized void closeSlot(int slot) {
        Slot s = slots.get(slot);
        if (s != null) {
            device.free(s.keys());
            device.free(s.values());
            slots.set(slot, null);
        }
    }

    @Override
    public synchronized int capacity(int slot) {
        return slots.get(slot).capacity();
    }

    /** A step's rows on the device: the base address of each row's keys and values, and its slot's capacity. */
    record Rows(CUdeviceptr keys, CUdeviceptr values, CUdeviceptr capacities) {
    }

    /** Fills, per row of the batch, its slot's key and value buffers and capacity, checking the position fits. */
    synchronized void describe(TokenBatch batch, CUdeviceptr[] keys, CUdeviceptr[] values, int[] capacities) {
        for (int r = 0; r < batch.rows(); r++) {
            Slot s = slots.get(batch.slot(r));
            if (batch.position(r) >= s.capacity()) {
                throw new IllegalStateException("position " + batch.position(r) + " beyond the KV capacity of slot " + batch.slot(r));
            }
            keys[r] = s.keys();
            values[r] = s.values();
            capacities[r] = s.capacity();
        }
    }

    @Override
    public synchronized long bytes() {
        return slots.stream().filter(java.util.Objects::nonNull).mapToLong(s -> 2L * elementBytes * layers * s.capacity() * width).sum();
    }

    @Override
    public synchronized void close() {
        for (int i = 0; i < slots.size(); i++) {
            closeSlot(i);
        }
        slots.clear();
    }
}
