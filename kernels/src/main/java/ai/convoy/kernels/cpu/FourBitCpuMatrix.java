package ai.convoy.kernels.cpu;

import ai.convoy.kernels.FourBitWeight;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * An NF4 or FP4 weight: value = codebook[code] * block scale, as bitsandbytes does. Products read the codes a vector
 * of bytes at a time and look their values up in the codebook, held in two vectors, by lane selection; since a byte
 * holds two neighbouring columns (the first in its high nibble), they take the input with each run of
 * {@link #CHUNK} columns split into its even columns, then its odd ones ({@link #arranged}).
 */
final class FourBitCpuMatrix extends CpuMatrix {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Lane selection from two vectors of 8 or 16 floats covers the sixteen codes. */
    private static final boolean VECTOR = F.length() == 8 || F.length() == 16;
    private static final VectorSpecies<Byte> B = VECTOR ? VectorSpecies.of(byte.class, VectorShape.forBitSize(F.length() * 8)) : null;
    /** Columns a vector of bytes holds. */
    static final int CHUNK = 2 * F.length();

    private final FourBitWeight w;
    private final float[] codebook;
    // rows that start on a block and on a byte can be decoded a block at a time
    private final boolean blockAligned;
    private final boolean vector;
    private final FloatVector codesLow;
    private final FloatVector codesHigh;
    private final ThreadLocal<byte[]> bytes;

    FourBitCpuMatrix(FourBitWeight w) {
        super(w.rows(), w.cols(), w.bytes());
        this.w = w;
        this.codebook = w.codebook().clone();
        this.blockAligned = w.cols() % w.blocksize() == 0;
        this.vector = VECTOR && blockAligned && w.blocksize() % CHUNK == 0;
        this.codesLow = VECTOR ? FloatVector.fromArray(F, codebook, 0) : null;
        this.codesHigh = VECTOR ? FloatVector.fromArray(F, codebook, 16 - F.length()) : null;
        this.bytes = ThreadLocal.withInitial(() -> new byte[(w.cols() + 1) / 2]);
    }

    @Override
    float[] arranged(float[] x, int rows) {
        if (!vector) {
            return x;
        }
        int cols = cols();
        int half = CHUNK / 2;
        float[] out = new float[x.length];
        for (int r = 0; r < rows; r++) {
            for (int c = r * cols; c < (r + 1) * cols; c += CHUNK) {
                for (int i = 0; i < half; i++) {
                    out[c + i] = x[c + 2 * i];
                    out[c + half + i] = x[c + 2 * i + 1];
                }
            }
        }
        return out;
    }

    @Override
    float dot(int row, float[] x, int xOff, float[] scratch) {
        if (!vector) {
            return super.dot(row, x, xOff, scratch);
        }
        int cols = cols();
        int blocksize = w.blocksize();
        long start = (long) row * cols;
        MemorySegment packed = w.packed();
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int half = CHUNK / 2;
        for (int base = 0; base < cols; base += blocksize) {
            float scale = w.scales().scale((start + base) / blocksize);
            FloatVector low = codesLow.mul(scale);
            FloatVector high = codesHigh.mul(scale);
            for (int c = base; c < base + blocksize; c += CHUNK) {
                ByteVector codes = ByteVector.fromMemorySegment(B, packed, (start + c) >>> 1, ByteOrder.LITTLE_ENDIAN);
                acc0 = values(codes.lanewise(VectorOperators.LSHR, 4), low, high).fma(FloatVector.fromArray(F, x, xOff + c), acc0);
                acc1 = values(codes.and((byte) 0x0f), low, high).fma(FloatVector.fromArray(F, x, xOff + c + half), acc1);
            }
        }
        return VectorMath.sumLanes(acc0.add(acc1));
    }

    /** The (scaled) codebook values of codes 0-15 in the lanes of a byte vector. */
    private static FloatVector values(ByteVector codes, FloatVector low, FloatVector high) {
        FloatVector index = (FloatVector) codes.convertShape(VectorOperators.B2F, F, 0);
        return index.selectFrom(low, high);
    }

    @Override
    void arrangedRow(int row, float[] dst) {
        if (!vector) {
            row(row, dst);
            return;
        }
        int cols = cols();
        int blocksize = w.blocksize();
        long start = (long) row * cols;
        MemorySegment packed = w.packed();
        int half = CHUNK / 2;
        for (int base = 0; base < cols; base += blocksize) {
            float scale = w.scales().scale((start + base) / blocksize);
            FloatVector low = codesLow.mul(scale);
            FloatVector high = codesHigh.mul(scale);
            for (int c = base; c < base + blocksize; c += CHUNK) {
                ByteVector codes = ByteVector.fromMemorySegment(B, packed, (start + c) >>> 1, ByteOrder.LITTLE_ENDIAN);
                values(codes.lanewise(VectorOperators.LSHR, 4), low, high).intoArray(dst, c);
                values(codes.and((byte) 0x0f), low, high).intoArray(dst, c + half);
            }
        }
    }

    @Override
    void row(int row, float[] dst) {
        int cols = w.cols();
        long start = (long) row * cols;
        if (!blockAligned) {
            for (int i = 0; i < cols; i++) {
                dst[i] = w.get(start + i);
            }
            return;
        }
        byte[] packed = bytes.get();
        MemorySegment.copy(w.packed(), ValueLayout.JAVA_BYTE, start >>> 1, packed, 0, cols / 2);
        int blocksize = w.blocksize();
        long firstBlock = start / blocksize;
        for (int b = 0, base = 0; base < cols; b++, base += blocksize) {
            float scale = w.scales().scale(firstBlock + b);
            for (int k = base; k < base + blocksize; k += 2) {
                int v = packed[k >>> 1] & 0xff;
                dst[k] = codebook[v >>> 4] * scale;
                dst[k + 1] = codebook[v & 0xf] * scale;
            }
        }
    }
}
