package ai.convoy.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.formats.Npy;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Quantized models against the reference logits computed from the dequantized weights (make_quantized.py): once
 * quantizing the bf16 checkpoint while loading, once loading the bitsandbytes checkpoint as stored.
 */
class QuantizedParityTest {

    static List<ParityModels.Reference> references() {
        return ParityModels.quantized();
    }

    private static QuantizationOptions optionsFor(ParityModels.Reference ref) {
        QuantizationOptions.Method method = QuantizationOptions.Method.valueOf(ref.method().toUpperCase());
        return new QuantizationOptions(method, 64, !ref.name().endsWith("-plain"), false, QuantizationOptions.ComputeDtype.BF16);
    }

    private static void check(ParityModels.Reference ref, Path modelDir, QuantizationOptions options) {
        Npy.Matrix expected = Npy.readFloat32(ref.logits());
        try (Model model = Model.open(modelDir, new CpuBackend(), options)) {
            ParityModels.Run run = ParityModels.greedy(model, ref.promptIds(), 16);
            double error = ParityModels.relativeL2(run.promptLogits(), expected.data());
            assertTrue(error < 1e-4, ref + " from " + modelDir.getFileName() + ": relative L2 " + error);
            assertArrayEquals(Arrays.copyOf(ref.greedyIds(), 16), run.tokens(), ref + ": greedy ids");
        }
    }

    @ParameterizedTest
    @MethodSource("references")
    void quantizedWhileLoading(ParityModels.Reference ref) {
        check(ref, ref.sourceModel(), optionsFor(ref));
    }

    @ParameterizedTest
    @MethodSource("references")
    void loadedFromTheBitsandbytesCheckpoint(ParityModels.Reference ref) {
        check(ref, ref.dir(), QuantizationOptions.NONE);
    }
}
