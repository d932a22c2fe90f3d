package ai.convoy.kernels.cpu;

import ai.convoy.kernels.WeightVector;

record CpuVector(float[] data) implements WeightVector {
    @Override
    public int size() {
        return data.length;
    }

    @Override
    public long bytes() {
        return 4L * data.length;
    }
}
