package ai.convoy.runtime.generate;

import ai.convoy.kernels.TokenPick;
import ai.convoy.runtime.model.NonFiniteLogitsException;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * How each next token of one sequence is chosen: its {@link TokenPick}, made where the logits are or here. The n-th
 * draw of a sequence takes the n-th number of its seed's stream, the same however often it is asked for, so a step
 * replayed after a failure draws the token it drew before.
 */
public final class Sampler {
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;

    private final SamplingParams params;
    private final long seed;

    public Sampler(SamplingParams params) {
        this.params = params;
        this.seed = params.seed().isPresent() ? params.seed().getAsLong() : new SplittableRandom().nextLong();
    }

    /** The pick of the token after {@code history[0..length)}, the sequence's {@code draw}-th draw. */
    public TokenPick pick(int draw, int[] history, int length) {
        return new TokenPick(params.temperature(), params.topK(), params.topP(), params.repetitionPenalty(),
                params.greedy() ? 0 : uniform(seed, draw), params.repetitionPenalty() == 1f ? new int[0] : Arrays.copyOf(history, length));
    }

    /** The token {@link #pick} chooses from {@code logits}, every one of which must be finite. */
    public int next(int draw, float[] logits, int[] history, int length) {
        for (float v : logits) {
            NonFiniteLogitsException.requireFinite(v);
        }
        return pick(draw, history, length).pick(logits, 0, logits.length);
    }

    /**
     * The {@code draw}-th number in [0, 1) of {@code seed}'s stream: what {@code new SplittableRandom(seed)} gives as its
     * (draw + 1)-th {@code nextDouble()}, computed from the index alone.
     */
    static double uniform(long seed, long draw) {
        long z = seed + (draw + 1) * GOLDEN_GAMMA;
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        z ^= z >>> 31;
        return (z >>> 11) * 0x1.0p-53;
    }
}
