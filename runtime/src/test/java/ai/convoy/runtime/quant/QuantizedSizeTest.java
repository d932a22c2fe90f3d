package ai.convoy.runtime.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.convoy.kernels.HostTensor;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.quant.QuantizationOptions.Method;
import org.junit.jupiter.api.Test;

class QuantizedSizeTest {

    @Test
    void predictsWhatTheQuantizerAllocates() {
        try (Checkpoint c = Checkpoint.open(ParityModels.named("llama-tied-headdim").dir())) {
            for (HostTensor t : c.tensors().values()) {
                if (!CheckpointQuantizer.isLinearWeight(t.name())) {
                    continue;
                }
                long rows = t.shape()[0];
                long cols = t.shape()[1];
                for (boolean nested : new boolean[] {true, false}) {
                    for (int blocksize : new int[] {64, 128}) {
                        assertEquals(Quantizer.fourBit(t, FourBitCode.NF4, blocksize, nested).weight().bytes(),
                                QuantizedSize.bytes(Method.NF4, rows, cols, blocksize, nested, 2), t.name());
                    }
                }
                assertEquals(Quantizer.int8(t).bytes(), QuantizedSize.bytes(Method.INT8, rows, cols, 64, false, 2), t.name());
            }
        }
    }

    @Test
    void bitsPerParameterOnALargeLayer() {
        long rows = 14336;
        long cols = 4096;
        double nested = 8.0 * QuantizedSize.bytes(Method.NF4, rows, cols, 64, true, 2) / (rows * cols);
        double plain = 8.0 * QuantizedSize.bytes(Method.NF4, rows, cols, 64, false, 2) / (rows * cols);
        // 4 bits + 8 bits per 64 values + 32 bits per 256 x 64 values = 4.127; 4 bits + 32 bits per 64 values = 4.5
        assertEquals(4.127, nested, 0.001);
        assertEquals(4.5, plain, 1e-6);
    }
}
