package ai.convoy.runtime.plan;

/**
 * A place to put layers: a CUDA GPU, a simulated GPU (a memory budget that behaves like a GPU's), the CPU, or the
 * disk (weights left memory-mapped; their KV cache and activations live in CPU memory).
 *
 * @param total  the device's memory, or -1 when unknown
 * @param budget the most bytes a plan may use on it
 * @param member the cluster member that has it, or "" for this process
 */
public record Device(Kind kind, int index, String name, long total, long budget, String member) {

    public enum Kind { CUDA, SIM, CPU, DISK }

    /** A device of this process. */
    public Device(Kind kind, int index, String name, long total, long budget) {
        this(kind, index, name, total, budget, "");
    }

    /** "cuda:0", "sim:1", "cpu", "disk", or on a cluster member "node-b/cuda:0": the name plans and messages use. */
    public String id() {
        return member.isEmpty() ? localId() : member + "/" + localId();
    }

    /** The name on the member that has it: "cuda:0". */
    public String localId() {
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
        return new Device(kind, index, name, total, newBudget, member);
    }

    /** This device as cluster member {@code memberName}'s. */
    public Device on(String memberName) {
        return new Device(kind, index, name, total, budget, memberName);
    }

    @Override
    public String toString() {
        return id();
    }
}
