package ai.convoy.runtime.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.BlockScales;
import ai.convoy.kernels.DType;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.Int8Weight;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import ai.convoy.kernels.cpu.TestTensors;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class QuantizerTest {
    private final SplittableRandom random = TestTensors.seeded(QuantizerTest.class);

    private static HostTensor f32(long rows, long cols, float... values) {
        MemorySegment data = MemorySegment.ofArray(new byte[values.length * 4]);
        MemorySegment.copy(values, 0, data, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, values.length);
        return new HostTensor("w", DType.F32, new long[] {rows, cols}, data);
    }

    private float[] gaussian(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    private static int packedByte(FourBitWeight w, long i) {
        return w.packed().get(ValueLayout.JAVA_BYTE, i) & 0xff;
    }

    @Test
    void elementTwoJIsTheHighNibble() {
        FourBitWeight w = Quantizer.fourBit(f32(1, 4, 1f, -1f, 0f, 0.5f), FourBitCode.NF4, 64, false).weight();
        // codes: 1.0 -> 15, -1.0 -> 0, 0.0 -> 7, 0.5 -> 12 (0.4407; the midpoint to 0.5626 is 0.5017)
        assertEquals(0xF0, packedByte(w, 0));
        assertEquals(0x7C, packedByte(w, 1));
    }

    @Test
    void anOddCountPadsTheLastLowNibbleWithTheCodeOfZero() {
        FourBitWeight w = Quantizer.fourBit(f32(1, 5, 0.1f, -0.2f, 0.3f, -0.4f, 0.5f), FourBitCode.NF4, 64, false).weight();
        assertEquals(3, w.packed().byteSize());
        assertEquals(7, packedByte(w, 2) & 0xf);
        assertEquals(15, packedByte(w, 2) >>> 4, "0.5 is the block's absmax");
        FourBitWeight fp4 = Quantizer.fourBit(f32(1, 5, 0.1f, -0.2f, 0.3f, -0.4f, 0.5f), FourBitCode.FP4, 64, false).weight();
        assertEquals(0, packedByte(fp4, 2) & 0xf, "FP4 codes zero as 0b0000");
    }

    @Test
    void aPartialLastBlockKeepsItsOwnAbsmax() {
        float[] v = gaussian(100);
        v[70] = 9f; // only in the second block, which holds elements 64..99
        FourBitWeight w = Quantizer.fourBit(f32(4, 25, v), FourBitCode.NF4, 64, false).weight();
        float[] absmax = ((BlockScales.Plain) w.scales()).absmax();
        assertEquals(2, absmax.length);
        float first = 0f;
        for (int i = 0; i < 64; i++) {
            first = Math.max(first, Math.abs(v[i]));
        }
        assertEquals(first, absmax[0]);
        assertEquals(9f, absmax[1]);
        assertEquals(9f, w.get(70));
    }

    @Test
    void doubleQuantizationReconstructsTheAbsmax() {
        float[] v = gaussian(64 * 700);
        FourBitWeight plain = Quantizer.fourBit(f32(700, 64, v), FourBitCode.NF4, 64, false).weight();
        FourBitWeight nested = Quantizer.fourBit(f32(700, 64, v), FourBitCode.NF4, 64, true).weight();
        float[] absmax = ((BlockScales.Plain) plain.scales()).absmax();
        BlockScales.Nested scales = (BlockScales.Nested) nested.scales();
        assertEquals(3, scales.nestedAbsmax().length, "700 blocks make 3 nested blocks of 256");
        for (int b = 0; b < absmax.length; b++) {
            // the dynamic map's step near 1 is 1/64 of the nested absmax, so half of it bounds the error
            float bound = scales.nestedAbsmax()[b / 256] / 128f + 1e-6f;
            assertTrue(Math.abs(scales.scale(b) - absmax[b]) <= bound, "block " + b + ": " + scales.scale(b) + " vs " + absmax[b]);
        }
    }

    @Test
    void roundTripErrorStaysWithinHalfTheLargestCodeGap() {
        float[] v = gaussian(64 * 64 + 13);
        for (FourBitCode code : FourBitCode.values()) {
            float[] book = code.codebook();
            float[] sorted = book.clone();
            java.util.Arrays.sort(sorted);
            float gap = 0f;
            for (int i = 1; i < 16; i++) {
                gap = Math.max(gap, sorted[i] - sorted[i - 1]);
            }
            FourBitWeight w = Quantizer.fourBit(f32(1, v.length, v), code, 64, false).weight();
            double squaredError = 0;
            double squaredNorm = 0;
            for (int i = 0; i < v.length; i++) {
                float absmax = w.scales().scale(i / 64);
                double error = Math.abs(w.get(i) - v[i]);
                assertTrue(error <= gap / 2 * absmax * (1 + 1e-6), code + " element " + i);
                squaredError += error * error;
                squaredNorm += (double) v[i] * v[i];
            }
            double relative = Math.sqrt(squaredError / squaredNorm);
            assertTrue(relative < (code == FourBitCode.NF4 ? 0.12 : 0.2), code + " relative RMS error " + relative);
        }
    }

    @Test
    void int8RoundTripIsWithinHalfAStep() {
        float[] v = gaussian(37 * 50);
        Int8Weight w = Quantizer.int8(f32(37, 50, v));
        for (int r = 0; r < 37; r++) {
            float scb = w.rowScales()[r];
            for (int c = 0; c < 50; c++) {
                int q = w.data().get(ValueLayout.JAVA_BYTE, (long) r * 50 + c);
                assertTrue(Math.abs(q * scb / 127f - v[r * 50 + c]) <= scb / 127f / 2 * (1 + 1e-5));
            }
        }
    }

    @Test
    void blocksizesOutsideTheRangeAreRefused() {
        HostTensor t = f32(1, 2, 1f, 2f);
        assertThrows(IllegalArgumentException.class, () -> Quantizer.fourBit(t, FourBitCode.NF4, 16, true));
        assertThrows(IllegalArgumentException.class, () -> Quantizer.fourBit(t, FourBitCode.NF4, 96, true));
        assertThrows(IllegalArgumentException.class, () -> Quantizer.fourBit(t, FourBitCode.NF4, 8192, true));
    }

    @Test
    void quantStateOffsetsArePrintedAsPythonPrintsThem() {
        // what Python prints for numpy.float32(x).item()
        assertEquals("9.999999747378752e-06", QuantState.pythonRepr(1e-5f));
        assertEquals("9.999999747378752e-05", QuantState.pythonRepr(1e-4f));
        assertEquals("0.0010000000474974513", QuantState.pythonRepr(1e-3f));
        assertEquals("0.2094675749540329", QuantState.pythonRepr(0.2094675749540329f));
        assertEquals("-1.5", QuantState.pythonRepr(-1.5f));
        assertEquals("3.0", QuantState.pythonRepr(3f));
        assertEquals("1.0000000200408773e+20", QuantState.pythonRepr(1e20f));
    }
}
