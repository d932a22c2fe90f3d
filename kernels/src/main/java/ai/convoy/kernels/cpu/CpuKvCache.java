package ai.convoy.kernels.cpu;

import ai.convoy.kernels.KvCache;
import java.util.ArrayList;
import java.util.List;

/** Per slot and layer, keys and values as [capacity, kvHeads * headDim] float arrays. */
final class CpuKvCache implements KvCache {
    private final int layers;
    private final int rowWidth;
    private final List<float[][]> keys = new ArrayList<>();
    private final List<float[][]> values = new ArrayList<>();
    private final List<Integer> capacities = new ArrayList<>();

    CpuKvCache(int layers, int kvHeads, int headDim) {
        this.layers = layers;
        this.rowWidth = kvHeads * headDim;
    }

    int rowWidth() {
        return rowWidth;
    }

    @Override
    public synchronized int openSlot(int capacity) {
        float[][] k = new float[layers][Math.multiplyExact(capacity, rowWidth)];
        float[][] v = new float[layers][Math.multiplyExact(capacity, rowWidth)];
        for (int slot = 0; slot < capacities.size(); slot++) {
            if (capacities.get(slot) == 0) {
                set(slot, k, v, capacity);
                return slot;
            }
        }
        keys.add(k);
        values.add(v);
        capacities.add(capacity);
        return capacities.size() - 1;
    }

    private void set(int slot, float[][] k, float[][] v, int capacity) {
        keys.set(slot, k);
        values.set(slot, v);
        capacities.set(slot, capacity);
    }

    @Override
    public synchronized void closeSlot(int slot) {
        set(slot, null, null, 0);
    }

    @Override
    public synchronized int capacity(int slot) {
        return capacities.get(slot);
    }

    synchronized float[] keys(int slot, int layer) {
        return keys.get(slot)[layer];
    }

    synchronized float[] values(int slot, int layer) {
        return values.get(slot)[layer];
    }

    @Override
    public synchronized long bytes() {
        long positions = 0;
        for (int c : capacities) {
            positions += c;
        }
        return positions * rowWidth * layers * 2L * Float.BYTES;
    }

    @Override
    public synchronized void close() {
        keys.clear();
        values.clear();
        capacities.clear();
    }
}
