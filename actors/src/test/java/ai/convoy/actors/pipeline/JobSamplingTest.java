package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.convoy.runtime.generate.SamplingParams;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class JobSamplingTest {
    @Test
    void anEmptyMessageTakesTheProtocolsDefaults() {
        SamplingParams p = JobSampling.fromProto(ai.convoy.proto.SamplingParams.getDefaultInstance(), List.of(2));
        assertEquals(new SamplingParams(0f, 0, 1f, 1f, OptionalLong.empty(), 128, List.of(2)), p);
    }

    @Test
    void everyFieldSurvivesTheRoundTripZeroNewTokensIncluded() {
        for (SamplingParams p : List.of(new SamplingParams(0.7f, 40, 0.9f, 1.2f, OptionalLong.of(5), 17, List.of(3, 4)),
                new SamplingParams(0f, 0, 1f, 1f, OptionalLong.empty(), 0, List.of(9)))) {
            assertEquals(p, JobSampling.fromProto(JobSampling.toProto(p), List.of(2)));
        }
    }
}
