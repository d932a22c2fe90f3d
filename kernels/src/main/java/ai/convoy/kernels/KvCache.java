package ai.convoy.kernels;

/** Keys and values of every layer, one slot per live sequence. */
public interface KvCache extends AutoCloseable {

    /** Reserves a slot for a sequence of up to {@code capacity} positions and returns its id. */
    int openSlot(int capacity);

    void closeSlot(int slot);

    int capacity(int slot);

    /** Bytes held by all open slots. */
    long bytes();

    /** The backend's own cache behind any wrapper that accounts for it. */
    default Object unwrap() {
        return this;
    }

    @Override
    void close();
}
