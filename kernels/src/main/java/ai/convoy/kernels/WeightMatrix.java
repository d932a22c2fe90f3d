package ai.convoy.kernels;

/** A backend's 2-D weight. */
public interface WeightMatrix {
    int rows();

    int cols();

    /** Bytes this weight occupies on its device. */
    long bytes();
}
