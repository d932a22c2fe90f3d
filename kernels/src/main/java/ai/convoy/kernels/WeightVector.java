package ai.convoy.kernels;

/** A backend's 1-D weight. */
public interface WeightVector {
    int size();

    /** Bytes this weight occupies on its device. */
    long bytes();
}
