package ai.convoy.runtime.pipeline;

/**
 * Sequences to open (with their KV capacity) and to close, applied by every stage before it runs the rows of the
 * micro-batch that carries them; so a stage always learns of a sequence before its first row, in any transport.
 */
public record SequenceChanges(long[] open, int[] capacities, long[] close) {
    public static final SequenceChanges NONE = new SequenceChanges(new long[0], new int[0], new long[0]);

    public SequenceChanges {
        if (open.length != capacities.length) {
            throw new IllegalArgumentException("each opened sequence needs a capacity");
        }
    }

    public static SequenceChanges opening(long[] sequences, int[] capacities) {
        return new SequenceChanges(sequences, capacities, new long[0]);
    }

    public static SequenceChanges closing(long... sequences) {
        return new SequenceChanges(new long[0], new int[0], sequences);
    }

    public boolean isEmpty() {
        return open.length == 0 && close.length == 0;
    }
}
