package ai.convoy.runtime.pipeline;

import ai.convoy.kernels.TokenPick;

/**
 * Token rows travelling through the pipeline: for each row its sequence and position; the first stage reads the
 * token ids, later stages the hidden states the previous one produced. The last stage returns for each row in
 * {@code logitRows} the token its pick in {@code picks} chooses, or its logits where the pick is null.
 * {@code changes} opens and closes sequences on every stage first; a micro-batch may carry only changes (no rows), to
 * free a cancelled sequence's cache at once.
 */
public record MicroBatch(long id, SequenceChanges changes, long[] sequences, int[] positions, int[] tokens, HiddenStates hidden,
                         int[] logitRows, TokenPick[] picks) {
    public MicroBatch {
        if (sequences.length != positions.length) {
            throw new IllegalArgumentException("sequences and positions differ in length");
        }
        if (picks.length != logitRows.length) {
            throw new IllegalArgumentException("picks and logit rows differ in length");
        }
    }

    /** A micro-batch whose logit rows all come back as logits. */
    public MicroBatch(long id, SequenceChanges changes, long[] sequences, int[] positions, int[] tokens, HiddenStates hidden, int[] logitRows) {
        this(id, changes, sequences, positions, tokens, hidden, logitRows, new TokenPick[logitRows.length]);
    }

    /** A micro-batch that carries only sequence changes, no rows. */
    public static MicroBatch changesOnly(long id, SequenceChanges changes) {
        return new MicroBatch(id, changes, new long[0], new int[0], new int[0], null, new int[0]);
    }

    public int rows() {
        return sequences.length;
    }

    public MicroBatch withId(long newId) {
        return new MicroBatch(newId, changes, sequences, positions, tokens, hidden, logitRows, picks);
    }

    public MicroBatch withHidden(HiddenStates next) {
        return new MicroBatch(id, changes, sequences, positions, tokens, next, logitRows, picks);
    }
}
