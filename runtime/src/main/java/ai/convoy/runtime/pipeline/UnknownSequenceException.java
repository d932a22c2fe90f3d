package ai.convoy.runtime.pipeline;

/** A row of a sequence this stage holds no KV cache for (it was never opened here, or the stage was restarted). */
public final class UnknownSequenceException extends IllegalStateException {
    private final long sequence;

    public UnknownSequenceException(long sequence) {
        super("sequence " + sequence + " was not opened on this stage");
        this.sequence = sequence;
    }

    public long sequence() {
        return sequence;
    }
}
