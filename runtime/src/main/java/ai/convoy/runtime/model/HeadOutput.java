package ai.convoy.runtime.model;

/**
 * What the model's head gives for each requested row: its logits ({@code tokens[i]} -1), or, for a row whose token was
 * picked on the device, the token id alone ({@code tokens[i] >= 0}, {@code logits[i]} null), so that a step moves a
 * few bytes per row instead of the whole vocabulary's scores; {@link #NOT_FINITE} where the row's scores held a NaN or
 * an infinity, so that only its own sequence fails.
 */
public record HeadOutput(float[][] logits, int[] tokens) {
    /** The token of a row whose scores were not finite: none could be picked. */
    public static final int NOT_FINITE = -2;

    public HeadOutput {
        if (logits.length != tokens.length) {
            throw new IllegalArgumentException(logits.length + " rows of logits and " + tokens.length + " of tokens");
        }
    }

    /**
     * Whether row {@code i} was picked on the device: {@link #tokens()} holds its id and there are no logits.
     *
     * @throws NonFiniteLogitsException where its scores were not finite
     */
    public boolean picked(int i) {
        if (tokens[i] == NOT_FINITE) {
            throw new NonFiniteLogitsException();
        }
        return tokens[i] >= 0;
    }

    /** The id picked on the device for row {@code i}; a NonFiniteLogitsException where its scores were not finite. */
    public int token(int i) {
        if (!picked(i)) {
            throw new IllegalStateException("row " + i + " came back as logits, not a picked token");
        }
        return tokens[i];
    }
}
