package ai.convoy.kernels;

/** A backend's [rows, cols] float32 activation buffer. */
public interface Activations {
    int rows();

    int cols();
}
