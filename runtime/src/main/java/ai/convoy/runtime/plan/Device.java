package ai.convoy.runtime.plan;

/**
 * A place to put layers: a CUDA GPU, a simulated GPU (a memory budget that behaves like a GPU's), the CPU, or the
 * disk (weights left memory-mapped; their KV cache and activations live in CPU memory).
 *
 * @param total  the device's memory, or -1 when unknown
 * @param budget the most bytes a plan may use on it
 */
public record Device(Kind kind, int index, String name, long total, long budget) {

    public enum Kind { CUDA, SIM, CPU, DISK }

    /** "cuda:0", "sim:1", "cpu", "disk": the name plans and messages use. */
    public String id() {
        return switch (kind) {
            case CUDA -> "cuda:" + index;
            case SIM -> "sim:" + index;
            case CPU -> "cpu";
            case DISK -> "disk";
        };
    }

    public boolean gpu() {
        return kind == Kind.CUDA || kind == Kind.SIM;
    }

    public Device withBudget(long newBudget) {
        return new Device(kind, index, name, total, newBudget);
    }

    @Override
    public String toString() {
        return id();
    }
}
