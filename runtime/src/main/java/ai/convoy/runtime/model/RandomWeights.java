package ai.convoy.runtime.model;

import ai.convoy.kernels.Backend;
import ai.convoy.kernels.BlockScales;
import ai.convoy.kernels.DType;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.Int8Weight;
import ai.convoy.kernels.QuantizedWeight;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.WeightVector;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Random weights of any shape, straight onto the backend: bf16 values about N(0, 0.02) for embeddings and
 * full-precision layers, random 4-bit codes with scales of the same magnitude for quantized layers, norm scales 1.
 * One host copy per shape is drawn and uploaded to every layer of that shape: each layer still has its own device
 * memory, so speed and memory are those of a real model, and a 70B shape is built in seconds.
 */
final class RandomWeights implements WeightSource {
    private final Backend backend;
    private final QuantizationOptions quantization;
    private final SplittableRandom random;
    private final Map<List<Long>, HostTensor> dense = new HashMap<>();
    private final Map<List<Long>, QuantizedWeight> quantized = new HashMap<>();
    private final Arena arena = Arena.ofAuto();

    RandomWeights(Backend backend, QuantizationOptions quantization, long seed) {
        this.backend = backend;
        this.quantization = quantization;
        this.random = new SplittableRandom(seed);
    }

    @Override
    public WeightMatrix dense(String name, long rows, long cols) {
        return backend.matrix(bf16(rows, cols));
    }

    @Override
    public WeightVector vector(String name, long size) {
        MemorySegment ones = arena.allocate(4 * size, 4);
        for (long i = 0; i < size; i++) {
            ones.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, 1f);
        }
        return backend.vector(new HostTensor(name, DType.F32, new long[] {size}, ones));
    }

    @Override
    public Transformer.Linear linear(String layer, int out, int in) {
        WeightMatrix w = quantization.method() == QuantizationOptions.Method.NONE ? backend.matrix(bf16(out, in)) : backend.matrix(quantized(out, in));
        return new Transformer.Linear(w, null);
    }

    @Override
    public boolean hasLmHead() {
        return true;
    }

    @Override
    public WeightMatrix lmHead(int vocab, int hidden) {
        return quantization.quantizeLmHead() && quantization.method() != QuantizationOptions.Method.NONE
                ? backend.matrix(quantized(vocab, hidden)) : backend.matrix(bf16(vocab, hidden));
    }

    private HostTensor bf16(long rows, long cols) {
        return dense.computeIfAbsent(List.of(rows, cols), k -> {
            MemorySegment data = arena.allocate(2 * rows * cols, 8);
            SyntheticCheckpoint.fill(data, rows * cols, false, random.split());
            return new HostTensor("random", DType.BF16, new long[] {rows, cols}, data);
        });
    }

    private QuantizedWeight quantized(int rows, int cols) {
        return quantized.computeIfAbsent(List.of((long) rows, (long) cols), k -> {
            long n = (long) rows * cols;
            SplittableRandom r = random.split();
            if (!quantization.method().fourBit()) {
                byte[] codes = new byte[Math.toIntExact(n)];
                r.nextBytes(codes);
                return new Int8Weight("random", rows, cols, MemorySegment.ofArray(codes), scales(r, rows, 0.06f));
            }
            int blocksize = quantization.blocksize();
            MemorySegment packed = arena.allocate((n + 1) / 2, 8);
            byte[] chunk = new byte[1 << 20];
            for (long at = 0; at < packed.byteSize(); at += chunk.length) {
                int len = (int) Math.min(chunk.length, packed.byteSize() - at);
                r.nextBytes(chunk);
                MemorySegment.copy(MemorySegment.ofArray(chunk), 0, packed, at, len);
            }
            float[] absmax = scales(r, Math.toIntExact((n + blocksize - 1) / blocksize), 0.06f);
            return new FourBitWeight("random", rows, cols, blocksize, quantization.method().fourBitCode().codebook(), packed,
                    new BlockScales.Plain(absmax));
        });
    }

    /** Scales around {@code typical}, so products stay of the size a trained model's do. */
    private static float[] scales(SplittableRandom r, int count, float typical) {
        float[] s = new float[count];
        for (int i = 0; i < s.length; i++) {
            s[i] = typical * (float) (0.5 + r.nextDouble());
        }
        return s;
    }
}
