package ai.convoy.kernels.cpu;

import ai.convoy.kernels.WeightVector;

record CpuVector(float[] data) implements WeightVector {
    @Override
    public int size() {
        return data.length;
    }
}
