package ai.convoy.kernels.cpu;

import ai.convoy.kernels.Activations;

record CpuActivations(int rows, int cols, float[] data) implements Activations {
    CpuActivations(int rows, int cols) {
        this(rows, cols, new float[Math.multiplyExact(rows, cols)]);
    }
}
