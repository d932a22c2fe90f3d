package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.generate.SamplingParams;
import java.util.List;
import java.util.OptionalLong;
import picocli.CommandLine.Option;

/** How to generate, as every command that runs jobs takes it. */
final class SamplingOptions {
    @Option(names = "--max-new-tokens", defaultValue = "128", description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "Sampling temperature; 0 is greedy (default: ${DEFAULT-VALUE}).")
    float temperature;

    @Option(names = "--top-k", defaultValue = "40", description = "Sample among the k most likely tokens; 0 is off (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", description = "Nucleus sampling mass; 1 is off (default: ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--repetition-penalty", defaultValue = "1.0", description = "Penalty for tokens already present; 1 is off (default: ${DEFAULT-VALUE}).")
    float repetitionPenalty;

    @Option(names = "--seed", description = "Random seed for sampling (default: different each run).")
    Long seed;

    @Option(names = "--stop-token-ids", split = ",", paramLabel = "ID",
            description = "Token ids that end generation (default: the model's eos_token_id).")
    List<Integer> stopTokenIds;

    /** The parameters, stopping at {@link #stopTokenIds} when given, else at {@code defaultStops}; bad values in one line. */
    SamplingParams params(List<Integer> defaultStops) {
        try {
            return new SamplingParams(temperature, topK, topP, repetitionPenalty, seed == null ? OptionalLong.empty() : OptionalLong.of(seed),
                    maxNewTokens, stopTokenIds != null ? stopTokenIds : defaultStops);
        } catch (IllegalArgumentException e) {
            // the parameters' own names, as options: "top-p must be ..." -> "--top-p must be ..."
            throw new ConvoyException("--" + e.getMessage().replaceFirst("^repetition penalty", "repetition-penalty")
                    .replaceFirst("^max new tokens", "max-new-tokens"));
        }
    }
}
