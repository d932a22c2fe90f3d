package ai.convoy.runtime.model;

/**
 * What the model's head gives for each requested row: its logits, or, for a row whose greedy pick was made on the
 * device, the token id alone ({@code tokens[i] >= 0}, {@code logits[i]} null), so that a greedy step moves a few
 * bytes per row instead of the whole vocabulary's scores.
 */
public record HeadOutput(float[][] logits, int[] tokens) {
    public HeadOutput {
        if (logits.length != tokens.length) {
            throw new IllegalArgumentException(logits.length + " rows of logits and " + tokens.length + " of tokens");
        }
    }

    /** Whether row {@code i} was picked on the device: {@link #tokens()} holds its id and there are no logits. */
    public boolean picked(int i) {
        return tokens[i] >= 0;
    }
}
