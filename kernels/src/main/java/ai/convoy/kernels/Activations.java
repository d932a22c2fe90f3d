package ai.convoy.kernels;

/** A backend's [rows, cols] float32 activation buffer. */
public interface Activations {
    int rows();

    int cols();

    /** Refuses a host array that is not exactly this buffer's rows * cols values (the other side of a read or write). */
    default void requireSameSize(float[] host) {
        if (host.length != (long) rows() * cols()) {
            throw new IllegalArgumentException(host.length + " host values for activations of [" + rows() + ", " + cols() + "]");
        }
    }
}
