package ai.convoy.kernels;

/** The greedy pick every backend and the sampler agree on. */
public final class Argmax {
    private Argmax() {
    }

    /** The first index of the largest of {@code length} scores from {@code offset}; a NaN counts as the largest, as in torch.argmax. */
    public static int of(float[] scores, int offset, int length) {
        int best = 0;
        for (int i = 0; i < length; i++) {
            float s = scores[offset + i];
            if (Float.isNaN(s)) {
                return i;
            }
            if (s > scores[offset + best]) {
                best = i;
            }
        }
        return best;
    }
}
