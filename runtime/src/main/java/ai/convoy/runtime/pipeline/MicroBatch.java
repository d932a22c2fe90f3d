package ai.convoy.runtime.pipeline;

/**
 * Token rows travelling through the pipeline: for each row its sequence and position; the first stage reads the
 * token ids, later stages the hidden states the previous one produced. The last stage returns the logits of the
 * rows in {@code logitRows}.
 */
public record MicroBatch(long id, long[] sequences, int[] positions, int[] tokens, HiddenStates hidden, int[] logitRows) {
    public MicroBatch {
        if (sequences.length != positions.length) {
            throw new IllegalArgumentException("sequences and positions differ in length");
        }
    }

    public int rows() {
        return sequences.length;
    }

    public MicroBatch withHidden(HiddenStates next) {
        return new MicroBatch(id, sequences, positions, tokens, next, logitRows);
    }
}
