package ai.convoy.kernels.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/** SIMD loops of the CPU backend (Vector API), each with a scalar tail. */
final class VectorMath {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final boolean WIDE = F.vectorBitSize() >= 128;
    // bf16 lanes are loaded as shorts at half the float width, widened to ints of the float width.
    private static final VectorSpecies<Short> S = WIDE ? VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2)) : null;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    // lane i takes lane i + step: adding v to its rotations by L/2, L/4, ..., 1 sums every lane into lane 0
    private static final VectorShuffle<Float>[] HALVINGS = halvings();

    private VectorMath() {
    }

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] halvings() {
        int steps = Integer.numberOfTrailingZeros(F.length());
        VectorShuffle<Float>[] out = new VectorShuffle[steps];
        for (int k = 0, step = F.length() / 2; step > 0; k++, step /= 2) {
            int s = step;
            out[k] = VectorShuffle.fromOp(F, i -> (i + s) % F.length());
        }
        return out;
    }

    /**
     * The sum of the lanes in a fixed order. reduceLanes leaves the order open, and its compiled and interpreted
     * forms differ in the last bit; a fixed tree keeps every run of a model bit-identical.
     */
    static float sumLanes(FloatVector v) {
        for (VectorShuffle<Float> h : HALVINGS) {
            v = v.add(v.rearrange(h));
        }
        return v.lane(0);
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
            sum = sumLanes(acc0.add(acc1));
        }
        for (; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /**
     * Dot products of one weight row w[0..n) with four activation rows starting at x[xOff], x[xOff + stride], ...,
     * into out[0..4): each weight vector is loaded once for four FMAs.
     */
    static void dot4(float[] w, float[] x, int xOff, int stride, int n, float[] out) {
        int i = 0;
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        if (WIDE) {
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = FloatVector.zero(F);
            FloatVector a2 = FloatVector.zero(F);
            FloatVector a3 = FloatVector.zero(F);
            for (; i + F.length() <= n; i += F.length()) {
                FloatVector wv = FloatVector.fromArray(F, w, i);
                a0 = wv.fma(FloatVector.fromArray(F, x, xOff + i), a0);
                a1 = wv.fma(FloatVector.fromArray(F, x, xOff + stride + i), a1);
                a2 = wv.fma(FloatVector.fromArray(F, x, xOff + 2 * stride + i), a2);
                a3 = wv.fma(FloatVector.fromArray(F, x, xOff + 3 * stride + i), a3);
            }
            s0 = sumLanes(a0);
            s1 = sumLanes(a1);
            s2 = sumLanes(a2);
            s3 = sumLanes(a3);
        }
        for (; i < n; i++) {
            s0 += w[i] * x[xOff + i];
            s1 += w[i] * x[xOff + stride + i];
            s2 += w[i] * x[xOff + 2 * stride + i];
            s3 += w[i] * x[xOff + 3 * stride + i];
        }
        out[0] = s0;
        out[1] = s1;
        out[2] = s2;
        out[3] = s3;
    }

    /** Dot product of {@code n} little-endian bf16 values at {@code byteOffset} with x[xOff..]. */
    static float dotBf16(MemorySegment w, long byteOffset, float[] x, int xOff, int n) {
        int i = 0;
        float sum = 0f;
        if (WIDE && n >= F.length()) {
            // four independent accumulators keep the FMA units busy while the bf16 widening is in flight
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            FloatVector acc2 = FloatVector.zero(F);
            FloatVector acc3 = FloatVector.zero(F);
            int step = F.length();
            for (; i + 4 * step <= n; i += 4 * step) {
                acc0 = bf16(w, byteOffset + 2L * i).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
                acc1 = bf16(w, byteOffset + 2L * (i + step)).fma(FloatVector.fromArray(F, x, xOff + i + step), acc1);
                acc2 = bf16(w, byteOffset + 2L * (i + 2 * step)).fma(FloatVector.fromArray(F, x, xOff + i + 2 * step), acc2);
                acc3 = bf16(w, byteOffset + 2L * (i + 3 * step)).fma(FloatVector.fromArray(F, x, xOff + i + 3 * step), acc3);
            }
            for (; i + step <= n; i += step) {
                acc0 = bf16(w, byteOffset + 2L * i).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
            }
            sum = sumLanes(acc0.add(acc1).add(acc2.add(acc3)));
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
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            FloatVector acc2 = FloatVector.zero(F);
            FloatVector acc3 = FloatVector.zero(F);
            int step = F.length();
            for (; i + 4 * step <= n; i += 4 * step) {
                acc0 = f32(w, byteOffset + 4L * i).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
                acc1 = f32(w, byteOffset + 4L * (i + step)).fma(FloatVector.fromArray(F, x, xOff + i + step), acc1);
                acc2 = f32(w, byteOffset + 4L * (i + 2 * step)).fma(FloatVector.fromArray(F, x, xOff + i + 2 * step), acc2);
                acc3 = f32(w, byteOffset + 4L * (i + 3 * step)).fma(FloatVector.fromArray(F, x, xOff + i + 3 * step), acc3);
            }
            for (; i + step <= n; i += step) {
                acc0 = f32(w, byteOffset + 4L * i).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
            }
            sum = sumLanes(acc0.add(acc1).add(acc2.add(acc3)));
        }
        for (; i < n; i++) {
            sum += w.get(FLOAT_LE, byteOffset + 4L * i) * x[xOff + i];
        }
        return sum;
    }

    private static FloatVector f32(MemorySegment w, long byteOffset) {
        return FloatVector.fromMemorySegment(F, w, byteOffset, LE);
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
        return Float.intBitsToFloat((w.get(SHORT_LE, byteOffset) & 0xffff) << 16);
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
