package ai.convoy.runtime.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.model.Model;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** Several sequences in one batch give what each gives alone. */
class BatchedGenerationTest {

    private static final class Recorder implements Generator.Listener {
        final List<List<Integer>> streamed = new ArrayList<>();
        final List<Generator.Result> finished = new ArrayList<>();

        Recorder(int n) {
            for (int i = 0; i < n; i++) {
                streamed.add(new ArrayList<>());
                finished.add(null);
            }
        }

        @Override
        public void token(int sequence, int token) {
            streamed.get(sequence).add(token);
        }

        @Override
        public void finished(int sequence, Generator.Result result) {
            finished.set(sequence, result);
        }
    }

    @Test
    void batchEqualsSoloRuns() {
        ParityModels.Reference ref = ParityModels.named("mistral-swa");
        try (Model model = Model.open(ref.dir(), new CpuBackend())) {
            Generator generator = new Generator(model.transformer());
            int[] p = ref.promptIds();
            List<Generator.Request> requests = List.of(
                    new Generator.Request(p, SamplingParams.GREEDY.withMaxNewTokens(20)),
                    new Generator.Request(Arrays.copyOf(p, 3), SamplingParams.GREEDY.withMaxNewTokens(7)),
                    new Generator.Request(new int[] {5}, new SamplingParams(0.9f, 20, 0.9f, 1.2f, OptionalLong.of(3), 12, List.of())),
                    new Generator.Request(Arrays.copyOfRange(p, 4, 13), SamplingParams.GREEDY.withMaxNewTokens(30)));
            Recorder batch = new Recorder(requests.size());
            List<Generator.Result> together = generator.generate(requests, batch);
            for (int i = 0; i < requests.size(); i++) {
                Generator.Result alone = generator.generate(List.of(requests.get(i)), new Recorder(1)).getFirst();
                assertArrayEquals(alone.tokens(), together.get(i).tokens(), "sequence " + i);
                assertEquals(requests.get(i).params().maxNewTokens(), together.get(i).tokens().length);
                assertArrayEquals(together.get(i).tokens(), batch.streamed.get(i).stream().mapToInt(Integer::intValue).toArray());
                assertEquals(Generator.FinishReason.MAX_NEW_TOKENS, batch.finished.get(i).reason());
            }
            assertArrayEquals(Arrays.copyOf(ref.greedyIds(), 20), together.getFirst().tokens());
        }
    }

    @Test
    void stopsOnAStopTokenAndAtTheContext() {
        ParityModels.Reference ref = ParityModels.named("llama-tied-headdim");
        try (Model model = Model.open(ref.dir(), new CpuBackend())) {
            Generator generator = new Generator(model.transformer());
            int stop = ref.greedyIds()[3];
            Generator.Result stopped = generator.generate(List.of(new Generator.Request(ref.promptIds(),
                    SamplingParams.GREEDY.withMaxNewTokens(20).withStopTokenIds(List.of(stop)))), new Recorder(1)).getFirst();
            assertEquals(Generator.FinishReason.STOP_TOKEN, stopped.reason());
            assertEquals(stop, stopped.tokens()[stopped.tokens().length - 1]);
            assertTrue(stopped.tokens().length <= 4);

            int context = model.config().maxPositions();
            int[] nearlyFull = new int[context - 5];
            Arrays.fill(nearlyFull, 7);
            Generator.Result full = generator.generate(List.of(new Generator.Request(nearlyFull,
                    SamplingParams.GREEDY.withMaxNewTokens(50))), new Recorder(1)).getFirst();
            assertEquals(Generator.FinishReason.CONTEXT_FULL, full.reason());
            assertEquals(5, full.tokens().length);
        }
    }
}
