package ai.convoy.kernels;

/** An allocation the device cannot hold: what it was for, how many bytes, and how many were free. */
public final class DeviceOutOfMemoryException extends RuntimeException {
    public enum Use { WEIGHTS, KV_CACHE, ACTIVATIONS }

    private final Use use;
    private final long requested;
    private final long free;

    public DeviceOutOfMemoryException(String device, Use use, long requested, long free) {
        super(device + ": out of memory allocating " + requested + " bytes for " + use.name().toLowerCase().replace('_', ' ')
                + " (" + free + " bytes free)");
        this.use = use;
        this.requested = requested;
        this.free = free;
    }

    public Use use() {
        return use;
    }

    public long requested() {
        return requested;
    }

    public long free() {
        return free;
    }
}
