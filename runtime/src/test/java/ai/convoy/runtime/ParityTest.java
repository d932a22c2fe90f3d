package ai.convoy.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.formats.Npy;
import ai.convoy.runtime.generate.Generator;
import ai.convoy.runtime.generate.SamplingParams;
import ai.convoy.runtime.model.Model;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The CPU engine against Hugging Face transformers' fp32 outputs for each parity model. */
class ParityTest {
    static final int CHECKED_GREEDY_TOKENS = 16;

    static List<ParityModels.Reference> models() {
        return ParityModels.all();
    }

    @ParameterizedTest
    @MethodSource("models")
    void promptLogitsAndGreedyIdsMatchTransformers(ParityModels.Reference ref) {
        Npy.Matrix expected = Npy.readFloat32(ref.logits());
        try (Model model = Model.open(ref.dir(), new CpuBackend())) {
            float[][][] logits = new float[1][][];
            SamplingParams greedy = SamplingParams.GREEDY.withMaxNewTokens(ref.greedyIds().length);
            Generator.Result result = new Generator(model.transformer()).generate(
                    List.of(new Generator.Request(ref.promptIds(), greedy, true)), new Generator.Listener() {
                        @Override
                        public void promptLogits(int sequence, float[][] l) {
                            logits[0] = l;
                        }

                        @Override
                        public void token(int sequence, int token) {
                        }
                    }).getFirst();

            assertEquals(expected.rows(), logits[0].length);
            float[] flat = new float[expected.rows() * expected.cols()];
            for (int r = 0; r < expected.rows(); r++) {
                System.arraycopy(logits[0][r], 0, flat, r * expected.cols(), expected.cols());
                double rowError = ParityModels.relativeL2(logits[0][r], expected.row(r));
                assertTrue(rowError < 1e-3, ref + " position " + r + ": relative L2 " + rowError);
            }
            double error = ParityModels.relativeL2(flat, expected.data());
            assertTrue(error < 1e-4, ref + ": relative L2 of all prompt logits " + error);
            assertArrayEquals(Arrays.copyOf(ref.greedyIds(), CHECKED_GREEDY_TOKENS),
                    Arrays.copyOf(result.tokens(), CHECKED_GREEDY_TOKENS), ref + ": greedy ids");
        }
    }
}
