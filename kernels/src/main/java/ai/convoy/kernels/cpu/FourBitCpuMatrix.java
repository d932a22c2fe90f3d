package ai.convoy.kernels.cpu;

import ai.convoy.kernels.FourBitWeight;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** An NF4 or FP4 weight, dequantized a row at a time: value = codebook[code] * block scale, as bitsandbytes does. */
final class FourBitCpuMatrix extends CpuMatrix {
    private final FourBitWeight w;
    private final float[] codebook;
    // rows that start on a block and on a byte can be decoded a block at a time
    private final boolean blockAligned;
    private final ThreadLocal<byte[]> bytes;

    FourBitCpuMatrix(FourBitWeight w) {
        super(w.rows(), w.cols(), w.bytes());
        this.w = w;
        this.codebook = w.codebook().clone();
        this.blockAligned = w.cols() % w.blocksize() == 0;
        this.bytes = ThreadLocal.withInitial(() -> new byte[(w.cols() + 1) / 2]);
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
