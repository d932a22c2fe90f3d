package ai.convoy.kernels;

/**
 * An allocation the device cannot hold: what it was for, how many bytes, how many were free, and how many this
 * process held there (-1 where unknown): their sum is what the device has for this process now.
 */
public final class DeviceOutOfMemoryException extends RuntimeException {
    public enum Use { WEIGHTS, KV_CACHE, ACTIVATIONS }

    private final String device;
    private final Use use;
    private final long requested;
    private final long free;
    private final long held;

    public DeviceOutOfMemoryException(String device, Use use, long requested, long free, long held) {
        super(device + ": out of memory allocating " + requested + " bytes for " + use.name().toLowerCase().replace('_', ' ')
                + " (" + free + " bytes free)");
        this.device = device;
        this.use = use;
        this.requested = requested;
        this.free = free;
        this.held = held;
    }

    /** The device's name, as messages give it. */
    public String device() {
        return device;
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

    public long held() {
        return held;
    }
}
