package ai.convoy.kernels;

import java.util.HashMap;
import java.util.Map;

/**
 * A backend under a hard memory budget, as a GPU of that size: weights and KV cache slots stay allocated until
 * released, activations until the end of the step; an allocation beyond the budget throws
 * {@link DeviceOutOfMemoryException} the way a CUDA allocation fails. It simulates GPUs on the CPU backend.
 */
public final class BudgetedBackend extends ForwardingBackend {
    private final String device;
    private long budget;
    private long persistent;
    private long step;

    public BudgetedBackend(Backend inner, String device, long budget) {
        super(inner);
        this.device = device;
        this.budget = budget;
    }

    private synchronized void reserve(DeviceOutOfMemoryException.Use use, long bytes, boolean forStep) {
        long free = budget - persistent - step;
        if (bytes > free) {
            throw new DeviceOutOfMemoryException(device, use, bytes, free, persistent + step);
        }
        if (forStep) {
            step += bytes;
        } else {
            persistent += bytes;
        }
    }

    private synchronized void release(long bytes) {
        persistent -= bytes;
    }

    /** Another process takes {@code bytes} of the device: this backend's budget shrinks by as much, from now on. */
    public synchronized void takenByOthers(long bytes) {
        budget -= bytes;
    }

    /** The most bytes this backend may hold now. */
    public synchronized long budget() {
        return budget;
    }

    /** Bytes held now. */
    @Override
    public long heldBytes() {
        return used();
    }

    public synchronized long used() {
        return persistent + step;
    }

    @Override
    public String name() {
        return device;
    }

    @Override
    public WeightMatrix matrix(HostTensor weight) {
        return held(inner.matrix(weight));
    }

    @Override
    public WeightMatrix matrix(QuantizedWeight weight) {
        return held(inner.matrix(weight));
    }

    private WeightMatrix held(WeightMatrix m) {
        reserve(DeviceOutOfMemoryException.Use.WEIGHTS, m.bytes(), false);
        return m;
    }

    @Override
    public WeightVector vector(HostTensor weight) {
        WeightVector v = inner.vector(weight);
        reserve(DeviceOutOfMemoryException.Use.WEIGHTS, v.bytes(), false);
        return v;
    }

    @Override
    public Activations activations(int rows, int cols) {
        reserve(DeviceOutOfMemoryException.Use.ACTIVATIONS, 4L * rows * cols, true);
        return inner.activations(rows, cols);
    }

    @Override
    public void endStep() {
        synchronized (this) {
            step = 0;
        }
        inner.endStep();
    }

    @Override
    public KvCache kvCache(int layers, int kvHeads, int headDim) {
        KvCache cache = inner.kvCache(layers, kvHeads, headDim);
        long bytesPerPosition = 2L * layers * kvHeads * headDim * Float.BYTES;
        Map<Integer, Long> held = new HashMap<>();
        return new KvCache() {
            @Override
            public int openSlot(int capacity) {
                long bytes = bytesPerPosition * capacity;
                reserve(DeviceOutOfMemoryException.Use.KV_CACHE, bytes, false);
                int slot = cache.openSlot(capacity);
                held.put(slot, bytes);
                return slot;
            }

            @Override
            public void closeSlot(int slot) {
                Long bytes = held.remove(slot);
                if (bytes != null) {
                    release(bytes);
                }
                cache.closeSlot(slot);
            }

            @Override
            public int capacity(int slot) {
                return cache.capacity(slot);
            }

            @Override
            public long bytes() {
                return cache.bytes();
            }

            @Override
            public void close() {
                held.values().forEach(BudgetedBackend.this::release);
                held.clear();
                cache.close();
            }

            @Override
            public Object unwrap() {
                return cache.unwrap();
            }
        };
    }

    @Override
    public void attention(KvCache cache, int layer, Activations q, Activations k, Activations v, TokenBatch batch, AttentionShape shape,
                          Activations out) {
        inner.attention((KvCache) cache.unwrap(), layer, q, k, v, batch, shape, out);
    }
}
