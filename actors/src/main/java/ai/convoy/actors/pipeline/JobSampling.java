package ai.convoy.actors.pipeline;

import ai.convoy.runtime.generate.SamplingParams;
import java.util.List;
import java.util.OptionalLong;

/**
 * The one mapping between the job protocol's sampling parameters and the runtime's. A field a request leaves unset
 * takes the protocol's default: greedy, no top-k, top-p 1, no repetition penalty, 128 new tokens, the model's eos
 * ids as stop tokens.
 */
public final class JobSampling {
    public static final int DEFAULT_MAX_NEW_TOKENS = 128;

    private JobSampling() {
    }

    /** The runtime's parameters for a request; {@code eosTokenIds} stop it when the request names no stop tokens. */
    public static SamplingParams fromProto(ai.convoy.proto.SamplingParams p, List<Integer> eosTokenIds) {
        return new SamplingParams(p.getTemperature(), p.getTopK(), p.getTopP() == 0 ? 1f : p.getTopP(),
                p.getRepetitionPenalty() == 0 ? 1f : p.getRepetitionPenalty(), p.hasSeed() ? OptionalLong.of(p.getSeed()) : OptionalLong.empty(),
                p.hasMaxNewTokens() ? p.getMaxNewTokens() : DEFAULT_MAX_NEW_TOKENS,
                p.getStopTokenIdsCount() > 0 ? p.getStopTokenIdsList() : eosTokenIds);
    }

    /** The protocol's message for the runtime's parameters, every field set. */
    public static ai.convoy.proto.SamplingParams toProto(SamplingParams p) {
        ai.convoy.proto.SamplingParams.Builder s = ai.convoy.proto.SamplingParams.newBuilder().setTemperature(p.temperature())
                .setTopK(p.topK()).setTopP(p.topP()).setRepetitionPenalty(p.repetitionPenalty()).setMaxNewTokens(p.maxNewTokens())
                .addAllStopTokenIds(p.stopTokenIds());
        p.seed().ifPresent(s::setSeed);
        return s.build();
    }
}
