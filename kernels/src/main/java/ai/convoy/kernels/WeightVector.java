package ai.convoy.kernels;

/** A backend's 1-D weight. */
public interface WeightVector {
    int size();
}
