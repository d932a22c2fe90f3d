package ai.convoy.kernels.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/** SIMD loops of the CPU backend (Vector API), each with a scalar tail. */
final class VectorMath {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final boolean WIDE = F.vectorBitSize() >= 128;
    // bf16 lanes are loaded as shorts at half the float width, widened to ints of the float width.
    private static final VectorSpecies<Short> S = WIDE ? VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2)) : null;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private VectorMath() {
    }

    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        int i = 0;
        float sum = 0f;
        if (WIDE && n >= F.length()) {
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            int step = F.length();
            for (; i + 2 * step <= n; i += 2 * step) {
                acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
                acc1 = FloatVector.fromArray(F, a, aOff + i + step).fma(FloatVector.fromArray(F, b, bOff + i + step), acc1);
            }
            for (; i + step <= n; i += step) {
                acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            }
            sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /** Dot product of {@code n} little-endian bf16 values at {@code byteOffset} with x[xOff..]. */
    static float dotBf16(MemorySegment w, long byteOffset, float[] x, int xOff, int n) {
        int i = 0;
        float sum = 0f;
        if (WIDE && n >= F.length()) {
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            int step = F.length();
            for (; i + 2 * step <= n; i += 2 * step) {
                acc0 = bf16(w, byteOffset + 2L * i).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
                acc1 = bf16(w, byteOffset + 2L * (i + step)).fma(FloatVector.fromArray(F, x, xOff + i + step), acc1);
            }
            for (; i + step <= n; i += step) {
                acc0 = bf16(w, byteOffset + 2L * i).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
            }
            sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) {
            sum += bf16Scalar(w, byteOffset + 2L * i) * x[xOff + i];
        }
        return sum;
    }

    /** Dot product of {@code n} little-endian f32 values at {@code byteOffset} with x[xOff..]. */
    static float dotF32(MemorySegment w, long byteOffset, float[] x, int xOff, int n) {
        int i = 0;
        float sum = 0f;
        if (WIDE) {
            FloatVector acc = FloatVector.zero(F);
            for (; i + F.length() <= n; i += F.length()) {
                acc = FloatVector.fromMemorySegment(F, w, byteOffset + 4L * i, LE).fma(FloatVector.fromArray(F, x, xOff + i), acc);
            }
            sum = acc.reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) {
            sum += w.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE), byteOffset + 4L * i) * x[xOff + i];
        }
        return sum;
    }

    static void bf16ToFloat(MemorySegment w, long byteOffset, float[] dst, int n) {
        int i = 0;
        if (WIDE) {
            for (; i + F.length() <= n; i += F.length()) {
                bf16(w, byteOffset + 2L * i).intoArray(dst, i);
            }
        }
        for (; i < n; i++) {
            dst[i] = bf16Scalar(w, byteOffset + 2L * i);
        }
    }

    private static FloatVector bf16(MemorySegment w, long byteOffset) {
        return ((IntVector) ShortVector.fromMemorySegment(S, w, byteOffset, LE).convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static float bf16Scalar(MemorySegment w, long byteOffset) {
        return Float.intBitsToFloat((w.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE), byteOffset) & 0xffff) << 16);
    }

    /** acc[aOff..] += scale * x[xOff..] */
    static void axpy(float scale, float[] x, int xOff, float[] acc, int aOff, int n) {
        int i = 0;
        if (WIDE) {
            FloatVector s = FloatVector.broadcast(F, scale);
            for (; i + F.length() <= n; i += F.length()) {
                FloatVector.fromArray(F, x, xOff + i).fma(s, FloatVector.fromArray(F, acc, aOff + i)).intoArray(acc, aOff + i);
            }
        }
        for (; i < n; i++) {
            acc[aOff + i] += scale * x[xOff + i];
        }
    }
}
