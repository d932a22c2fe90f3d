package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.proto.Failed;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Simulated GPUs with budgets that hold the weights but not every batch: out-of-memory becomes smaller micro-batches
 * or fewer live sequences, and every job still ends exactly as it does alone.
 */
class OutOfMemoryTest {
    static final ParityModels.Reference REF = ParityModels.named("mistral-swa");

    static List<Device> sims(long budget) {
        return List.of(new Device(Device.Kind.SIM, 0, "sim", budget, budget), new Device(Device.Kind.SIM, 1, "sim", budget, budget));
    }

    static List<JobRequest> jobs(int count, int promptLength, int newTokens) {
        ModelConfig c = ModelConfig.read(REF.dir());
        SplittableRandom rnd = new SplittableRandom(count * 31L + promptLength);
        List<JobRequest> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] prompt = new int[promptLength];
            for (int k = 0; k < prompt.length; k++) {
                prompt[k] = rnd.nextInt(3, c.vocabSize());
            }
            out.add(PipelineRuntimeTest.job("oom-" + i, prompt, newTokens, i % 2 == 0 ? 0f : 0.7f, i));
        }
        return out;
    }

    static void assertSameAsSolo(List<JobRequest> jobs, List<int[]> got) {
        try (Model single = Model.open(REF.dir(), new CpuBackend())) {
            for (int i = 0; i < jobs.size(); i++) {
                assertArrayEquals(PipelineRuntimeTest.solo(single, jobs.get(i)), got.get(i), jobs.get(i).getJobId());
            }
        }
    }

    @Test
    void longPrefillsOutOfActivationMemoryRunInSmallerMicroBatches() {
        // each stage holds ~0.54 MB of weights; 700 kB leaves room for about 15 rows of activations, not 60
        List<JobRequest> jobs = jobs(3, 60, 10);
        try (PipelineRuntime runtime = PipelineRuntime.start(REF.dir(), PipelineRuntimeTest.split(2, sims(700_000)), QuantizationOptions.NONE, 4)) {
            List<int[]> got = PipelineRuntimeTest.runAll(runtime, jobs);
            assertSameAsSolo(jobs, got);
            int maxRows = runtime.limits().maxRows();
            assertTrue(maxRows < 60 && maxRows >= 1, "the batch limits lowered the rows per micro-batch: " + maxRows);
        }
    }

    @Test
    void tooManySequencesForTheKvCacheWaitTheirTurn() {
        // 16 sequences of 200 positions need ~0.8 MB of KV cache per stage; 1.1 MB budgets leave room for far fewer
        List<JobRequest> jobs = jobs(16, 8, 192);
        try (PipelineRuntime runtime = PipelineRuntime.start(REF.dir(), PipelineRuntimeTest.split(2, sims(1_100_000)), QuantizationOptions.NONE, 16)) {
            List<int[]> got = PipelineRuntimeTest.runAll(runtime, jobs);
            assertSameAsSolo(jobs, got);
            int maxLive = runtime.limits().maxLive();
            assertTrue(maxLive < 16, "the batch limits lowered the live sequences: " + maxLive);
        }
    }

    @Test
    void aJobThatCannotFitAloneFailsAndTheOthersFinish() {
        // weights take 541,696 and 542,208 bytes on the two stages; 600 kB leaves ~58 kB, less than 250 positions of KV (64 kB)
        try (PipelineRuntime runtime = PipelineRuntime.start(REF.dir(), PipelineRuntimeTest.split(2, sims(600_000)), QuantizationOptions.NONE, 4)) {
            JobEvent tooBig = runtime.submit(jobs(1, 10, 240).getFirst(), e -> { }).join();
            assertTrue(tooBig.hasFailed(), tooBig.toString());
            assertEquals(Failed.Code.DOES_NOT_FIT, tooBig.getFailed().getCode());
            List<JobRequest> small = jobs(2, 5, 5);
            assertSameAsSolo(small, PipelineRuntimeTest.runAll(runtime, small));
        }
    }
}
