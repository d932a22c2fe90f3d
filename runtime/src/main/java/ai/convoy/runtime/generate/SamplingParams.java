package ai.convoy.runtime.generate;

import java.util.List;
import java.util.OptionalLong;

/**
 * How the next token is chosen. {@code temperature} 0 is greedy; {@code topK} 0 and {@code topP} 1 turn those
 * filters off; {@code repetitionPenalty} 1 turns it off. The order of application is the reference's:
 * repetition penalty, temperature, top-k, top-p.
 */
public record SamplingParams(float temperature, int topK, float topP, float repetitionPenalty, OptionalLong seed,
                             int maxNewTokens, List<Integer> stopTokenIds) {

    public static final SamplingParams GREEDY = new SamplingParams(0f, 0, 1f, 1f, OptionalLong.empty(), 128, List.of());

    public SamplingParams {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        if (!(repetitionPenalty > 0)) {
            throw new IllegalArgumentException("repetition penalty must be > 0, got " + repetitionPenalty);
        }
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens);
        }
        stopTokenIds = List.copyOf(stopTokenIds);
    }

    public boolean greedy() {
        return temperature == 0f;
    }

    public SamplingParams withMaxNewTokens(int n) {
        return new SamplingParams(temperature, topK, topP, repetitionPenalty, seed, n, stopTokenIds);
    }

    public SamplingParams withStopTokenIds(List<Integer> ids) {
        return new SamplingParams(temperature, topK, topP, repetitionPenalty, seed, maxNewTokens, ids);
    }
}
