package ai.convoy.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.formats.Npy;
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
            ParityModels.Run run = ParityModels.greedy(model, ref.promptIds(), ref.greedyIds().length);
            int cols = expected.cols();
            for (int r = 0; r < expected.rows(); r++) {
                float[] row = Arrays.copyOfRange(run.promptLogits(), r * cols, (r + 1) * cols);
                double rowError = ParityModels.relativeL2(row, expected.row(r));
                assertTrue(rowError < 1e-3, ref + " position " + r + ": relative L2 " + rowError);
            }
            assertEquals(expected.data().length, run.promptLogits().length);
            double error = ParityModels.relativeL2(run.promptLogits(), expected.data());
            assertTrue(error < 1e-4, ref + ": relative L2 of all prompt logits " + error);
            assertArrayEquals(Arrays.copyOf(ref.greedyIds(), CHECKED_GREEDY_TOKENS),
                    Arrays.copyOf(run.tokens(), CHECKED_GREEDY_TOKENS), ref + ": greedy ids");
        }
    }
}
