package ai.convoy.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.formats.Npy;
import ai.convoy.runtime.generate.Generator;
import ai.convoy.runtime.generate.SamplingParams;
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
            float[][][] logits = new float[1][][];
            Generator.Result result = new Generator(model.transformer()).generate(List.of(new Generator.Request(ref.promptIds(),
                    SamplingParams.GREEDY.withMaxNewTokens(16), true)), new Generator.Listener() {
                        @Override
                        public void promptLogits(int sequence, float[][] l) {
                            logits[0] = l;
                        }

                        @Override
                        public void token(int sequence, int token) {
                        }
                    }).getFirst();
            float[] flat = new float[expected.rows() * expected.cols()];
            for (int r = 0; r < expected.rows(); r++) {
                System.arraycopy(logits[0][r], 0, flat, r * expected.cols(), expected.cols());
            }
            double error = ParityModels.relativeL2(flat, expected.data());
            assertTrue(error < 1e-4, ref + " from " + modelDir.getFileName() + ": relative L2 " + error);
            assertArrayEquals(Arrays.copyOf(ref.greedyIds(), 16), result.tokens(), ref + ": greedy ids");
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
