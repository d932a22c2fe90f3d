package ai.convoy.runtime.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.convoy.kernels.BlockScales;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.Int8Weight;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.formats.Checkpoint;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The quantizer against ops/parity/make_quantized.py, byte for byte, on every linear weight of a parity model. */
class QuantizerReferenceTest {
    private static final List<String> LINEAR = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    private static byte[] bytes(HostTensor t) {
        return t.data().toArray(ValueLayout.JAVA_BYTE);
    }

    private static List<String> linearWeights(Checkpoint c) {
        return c.tensors().keySet().stream()
                .filter(n -> LINEAR.stream().anyMatch(l -> n.endsWith("." + l + ".weight"))).sorted().toList();
    }

    private static void checkFourBit(String model, String variant, FourBitCode code, boolean nested) {
        ParityModels.Reference ref = ParityModels.named(model);
        try (Checkpoint source = Checkpoint.open(ref.dir()); Checkpoint expected = Checkpoint.open(ref.dir().resolve(variant))) {
            for (String name : linearWeights(source)) {
                Quantizer.FourBit q = Quantizer.fourBit(source.get(name), code, 64, nested);
                assertArrayEquals(bytes(expected.get(name)), q.weight().packed().toArray(ValueLayout.JAVA_BYTE), name + " packed");
                assertArrayEquals(expected.get(name + ".quant_map").toFloatArray(), q.weight().codebook(), name + " quant_map");
                String json = new String(bytes(expected.get(name + "." + q.state().key())), StandardCharsets.UTF_8);
                assertEquals(json, q.state().toJson(), name + " quant_state");
                if (nested) {
                    BlockScales.Nested s = (BlockScales.Nested) q.weight().scales();
                    assertArrayEquals(expected.get(name + ".nested_quant_map").toFloatArray(), s.map(), name + " nested map");
                    assertArrayEquals(expected.get(name + ".nested_absmax").toFloatArray(), s.nestedAbsmax(), name + " nested absmax");
                    assertArrayEquals(bytes(expected.get(name + ".absmax")), s.codes().toArray(ValueLayout.JAVA_BYTE), name + " absmax codes");
                } else {
                    assertArrayEquals(expected.get(name + ".absmax").toFloatArray(), ((BlockScales.Plain) q.weight().scales()).absmax(),
                            name + " absmax");
                }
            }
        }
    }

    @Test
    void nf4WithDoubleQuantizationOnEveryParityModel() {
        for (ParityModels.Reference ref : ParityModels.all()) {
            checkFourBit(ref.name(), "nf4", FourBitCode.NF4, true);
        }
    }

    @Test
    void nf4WithoutDoubleQuantization() {
        checkFourBit("qwen2-bias", "nf4-plain", FourBitCode.NF4, false);
    }

    @Test
    void fp4() {
        checkFourBit("qwen2-bias", "fp4", FourBitCode.FP4, true);
    }

    @Test
    void int8RowWise() {
        ParityModels.Reference ref = ParityModels.named("qwen2-bias");
        try (Checkpoint source = Checkpoint.open(ref.dir()); Checkpoint expected = Checkpoint.open(ref.dir().resolve("int8"))) {
            for (String name : linearWeights(source)) {
                Int8Weight q = Quantizer.int8(source.get(name));
                assertArrayEquals(bytes(expected.get(name)), q.data().toArray(ValueLayout.JAVA_BYTE), name);
                String scb = name.substring(0, name.length() - "weight".length()) + "SCB";
                assertArrayEquals(expected.get(scb).toFloatArray(), q.rowScales(), scb);
            }
        }
    }
}
