package ai.convoy.runtime.generate;

import ai.convoy.kernels.Argmax;
import ai.convoy.runtime.model.NonFiniteLogitsException;
import java.util.Arrays;
import java.util.SplittableRandom;

/** Chooses each next token of one sequence from its logits; pure and deterministic for a given seed. */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;

    public Sampler(SamplingParams params) {
        this.params = params;
        this.random = params.seed().isPresent() ? new SplittableRandom(params.seed().getAsLong()) : new SplittableRandom();
    }

    /**
     * @param logits  the model's scores for the next token (not modified)
     * @param history every token of the sequence so far, prompt included, for the repetition penalty
     */
    public int next(float[] logits, int[] history, int historyLength) {
        for (float v : logits) {
            NonFiniteLogitsException.requireFinite(v);
        }
        float[] scores = logits.clone();
        if (params.repetitionPenalty() != 1f) {
            penalizeRepeats(scores, history, historyLength, params.repetitionPenalty());
        }
        if (params.greedy()) {
            return argmax(scores);
        }
        for (int i = 0; i < scores.length; i++) {
            scores[i] /= params.temperature();
        }
        if (params.topK() > 0 && params.topK() < scores.length) {
            keepTopK(scores, params.topK());
        }
        if (params.topP() < 1f) {
            keepTopP(scores, params.topP());
        }
        return draw(softmax(scores));
    }

    /** The first index of the largest score, as torch.argmax picks it (and as a backend picks on its device). */
    public static int argmax(float[] scores) {
        return Argmax.of(scores, 0, scores.length);
    }

    /** Each token already in the sequence: a positive score divided by the penalty, a negative one multiplied. */
    static void penalizeRepeats(float[] scores, int[] history, int length, float penalty) {
        boolean[] seen = new boolean[scores.length];
        for (int i = 0; i < length; i++) {
            int t = history[i];
            if (!seen[t]) {
                seen[t] = true;
                scores[t] = scores[t] < 0 ? scores[t] * penalty : scores[t] / penalty;
            }
        }
    }

    /** Scores below the k-th largest become -infinity (ties with the k-th are kept). */
    static void keepTopK(float[] scores, int k) {
        float[] sorted = scores.clone();
        Arrays.sort(sorted);
        float kth = sorted[sorted.length - k];
        for (int i = 0; i < scores.length; i++) {
            if (scores[i] < kth) {
                scores[i] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    /** Keeps the most likely tokens whose probabilities first reach p together; the rest become -infinity. */
    static void keepTopP(float[] scores, float p) {
        float[] probs = softmax(scores);
        Integer[] order = new Integer[scores.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(probs[b], probs[a]));
        double cumulative = 0;
        int keep = 0;
        while (keep < order.length && cumulative < p) {
            cumulative += probs[order[keep]];
            keep++;
        }
        for (int i = Math.max(keep, 1); i < order.length; i++) {
            scores[order[i]] = Float.NEGATIVE_INFINITY;
        }
    }

    static float[] softmax(float[] scores) {
        float max = Float.NEGATIVE_INFINITY;
        for (float s : scores) {
            max = Math.max(max, s);
        }
        double sum = 0;
        float[] probs = new float[scores.length];
        for (int i = 0; i < scores.length; i++) {
            probs[i] = (float) Math.exp(scores[i] - max);
            sum += probs[i];
        }
        for (int i = 0; i < probs.length; i++) {
            probs[i] /= (float) sum;
        }
        return probs;
    }

    private int draw(float[] probs) {
        double u = random.nextDouble();
        double cumulative = 0;
        int last = 0;
        for (int i = 0; i < probs.length; i++) {
            if (probs[i] > 0) {
                cumulative += probs[i];
                last = i;
                if (u < cumulative) {
                    return i;
                }
            }
        }
        return last;
    }
}
