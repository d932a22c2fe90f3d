package ai.convoy.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cuda.CudaBackend;
import ai.convoy.runtime.formats.Npy;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every parity model on the GPU against the transformers references: unquantized, and each quantized reference. */
@Tag("gpu")
class GpuParityTest {
    static CudaBackend gpu;

    @BeforeAll
    static void open() {
        gpu = new CudaBackend(0);
    }

    @AfterAll
    static void close() {
        gpu.close();
    }

    static List<ParityModels.Reference> references() {
        List<ParityModels.Reference> all = new ArrayList<>(ParityModels.all());
        all.addAll(ParityModels.quantized());
        return all;
    }

    @ParameterizedTest
    @MethodSource("references")
    void logitsAndGreedyIdsMatchTheReferenceOnTheGpu(ParityModels.Reference ref) {
        boolean quantized = ref.dir().getParent().equals(ParityModels.root()) == false;
        QuantizationOptions q = QuantizationOptions.NONE;
        Npy.Matrix expected = Npy.readFloat32(ref.logits());
        // quantized references load their bitsandbytes checkpoint as stored
        try (Model model = Model.open(ref.dir(), gpu, q)) {
            ParityModels.Run run = ParityModels.greedy(model, ref.promptIds(), 16);
            double error = ParityModels.relativeL2(run.promptLogits(), expected.data());
            // a prompt of more than 8 tokens goes through cuBLAS in bf16, whose bound is 1e-2; float32 kernels keep 1e-4
            double bound = gpu.bf16Products(ref.promptIds().length) ? 1e-2 : 1e-4;
            assertTrue(error < bound, ref + " on " + gpu.deviceName() + ": relative L2 " + error + (quantized ? " (quantized)" : ""));
            assertArrayEquals(Arrays.copyOf(ref.greedyIds(), 16), run.tokens(), ref + ": greedy ids");
        }
    }
}
