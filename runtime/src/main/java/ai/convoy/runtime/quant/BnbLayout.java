package ai.convoy.runtime.quant;

import ai.convoy.kernels.BlockScales;
import ai.convoy.kernels.DType;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.Int8Weight;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Checkpoint;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The Hugging Face bitsandbytes checkpoint layout, as transformers writes it. For a 4-bit weight {@code W}:
 * {@code W} (uint8 [(n+1)/2, 1]), {@code W.absmax} (uint8 when nested, else float32), {@code W.quant_map},
 * {@code W.nested_absmax}, {@code W.nested_quant_map} and {@code W.quant_state.bitsandbytes__nf4|fp4} (JSON bytes).
 * For an 8-bit layer {@code L}: {@code L.weight} (int8 [out, in]), {@code L.SCB} (float32 [out]) and
 * {@code L.weight_format} (uint8 0, row-major).
 */
public final class BnbLayout {
    /** Tensors a quantized weight becomes at most (a 4-bit weight with nested scales). */
    public static final int MAX_ENTRIES = 6;
    /** The longest name a quantized weight's tensors add to the weight's. */
    public static final int LONGEST_SUFFIX = ".quant_state.bitsandbytes__nf4".length();
    private BnbLayout() {
    }

    /** One tensor of a checkpoint to write. */
    public record Entry(String name, DType dtype, long[] shape, MemorySegment data) {
    }

    public static boolean isFourBit(Checkpoint c, String weight) {
        return Arrays.stream(FourBitCode.values()).anyMatch(code -> c.has(weight + "." + QuantState.KEY_PREFIX + code.typeName()));
    }

    public static boolean isInt8(Checkpoint c, String layer) {
        return c.has(layer + ".SCB");
    }

    /** Reads a 4-bit weight, checking every part against its quant_state and the expected shape. */
    public static FourBitWeight readFourBit(Checkpoint c, String weight, long rows, long cols) {
        FourBitCode code = Arrays.stream(FourBitCode.values())
                .filter(k -> c.has(weight + "." + QuantState.KEY_PREFIX + k.typeName())).findFirst().orElseThrow();
        String stateName = weight + "." + QuantState.KEY_PREFIX + code.typeName();
        HostTensor stateTensor = c.get(stateName);
        QuantState state;
        try {
            state = QuantState.parse(stateTensor.data().toArray(ValueLayout.JAVA_BYTE));
        } catch (IllegalArgumentException e) {
            throw problem(c, stateName, e.getMessage());
        }
        if (state.type() != code) {
            throw problem(c, stateName, "quant_type '" + state.type().typeName() + "' disagrees with the key's " + code.typeName());
        }
        if (!Arrays.equals(state.shape(), new long[] {rows, cols})) {
            throw problem(c, stateName, "shape " + Arrays.toString(state.shape()) + " but config.json implies [" + rows + ", " + cols + "]");
        }
        long n = rows * cols;
        HostTensor packed = c.get(weight);
        if (packed.dtype() != DType.U8 || packed.data().byteSize() != (n + 1) / 2) {
            throw problem(c, weight, "holds " + packed.data().byteSize() + " bytes of " + packed.dtype() + ", expected " + (n + 1) / 2
                    + " bytes of U8 for " + n + " 4-bit values");
        }
        long blocks = (n + state.blocksize() - 1) / state.blocksize();
        float[] codebook = floats(c, weight + ".quant_map", 16);
        HostTensor absmax = c.get(weight + ".absmax");
        BlockScales scales;
        if (state.nested().isPresent()) {
            QuantState.Nested nested = state.nested().get();
            if (absmax.dtype() != DType.U8 || absmax.elementCount() != blocks) {
                throw problem(c, weight + ".absmax", absmax.elementCount() + " " + absmax.dtype() + " values, expected " + blocks
                        + " U8 codes (one per block of " + state.blocksize() + ")");
            }
            long nestedBlocks = (blocks + nested.blocksize() - 1) / nested.blocksize();
            scales = new BlockScales.Nested(absmax.data(), floats(c, weight + ".nested_quant_map", 256),
                    floats(c, weight + ".nested_absmax", nestedBlocks), nested.blocksize(), nested.offset());
        } else {
            scales = new BlockScales.Plain(floats(c, weight + ".absmax", blocks));
        }
        return new FourBitWeight(weight, (int) rows, (int) cols, state.blocksize(), codebook, packed.data(), scales);
    }

    public static Int8Weight readInt8(Checkpoint c, String layer, long rows, long cols) {
        HostTensor w = c.get(layer + ".weight");
        if (w.dtype() != DType.I8 || !Arrays.equals(w.shape(), new long[] {rows, cols})) {
            throw problem(c, layer + ".weight", w.dtype() + Arrays.toString(w.shape()) + ", expected I8[" + rows + ", " + cols + "]");
        }
        return new Int8Weight(layer + ".weight", (int) rows, (int) cols, w.data(), floats(c, layer + ".SCB", rows));
    }

    private static float[] floats(Checkpoint c, String name, long count) {
        HostTensor t = c.get(name);
        if (t.dtype() != DType.F32 || t.elementCount() != count) {
            throw problem(c, name, t.elementCount() + " " + t.dtype() + " values, expected " + count + " F32");
        }
        return t.toFloatArray();
    }

    private static ConvoyException problem(Checkpoint c, String tensor, String what) {
        return ConvoyException.in(c.fileOf(tensor), "tensor " + tensor + ": " + what);
    }

    /** The tensors transformers writes for a 4-bit weight named {@code weight}. */
    public static Map<String, Entry> entries(String weight, Quantizer.FourBit q) {
        Map<String, Entry> out = new LinkedHashMap<>();
        FourBitWeight w = q.weight();
        out.put(weight, new Entry(weight, DType.U8, new long[] {w.packed().byteSize(), 1}, w.packed()));
        switch (w.scales()) {
            case BlockScales.Plain p -> out.put(weight + ".absmax", floatEntry(weight + ".absmax", p.absmax()));
            case BlockScales.Nested nested -> {
                out.put(weight + ".absmax", new Entry(weight + ".absmax", DType.U8, new long[] {nested.codes().byteSize()}, nested.codes()));
                out.put(weight + ".nested_absmax", floatEntry(weight + ".nested_absmax", nested.nestedAbsmax()));
                out.put(weight + ".nested_quant_map", floatEntry(weight + ".nested_quant_map", nested.map()));
            }
        }
        out.put(weight + ".quant_map", floatEntry(weight + ".quant_map", w.codebook()));
        byte[] json = q.state().toBytes();
        String key = weight + "." + q.state().key();
        out.put(key, new Entry(key, DType.U8, new long[] {json.length}, MemorySegment.ofArray(json)));
        return out;
    }

    /** The tensors transformers writes for an 8-bit layer named {@code layer}. */
    public static Map<String, Entry> entries(String layer, Int8Weight w) {
        Map<String, Entry> out = new LinkedHashMap<>();
        out.put(layer + ".weight", new Entry(layer + ".weight", DType.I8, new long[] {w.rows(), w.cols()}, w.data()));
        out.put(layer + ".SCB", floatEntry(layer + ".SCB", w.rowScales()));
        out.put(layer + ".weight_format", new Entry(layer + ".weight_format", DType.U8, new long[0], MemorySegment.ofArray(new byte[] {0})));
        return out;
    }

    private static Entry floatEntry(String name, float[] values) {
        MemorySegment data = MemorySegment.ofArray(new byte[values.length * 4]);
        MemorySegment.copy(values, 0, data, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0, values.length);
        return new Entry(name, DType.F32, new long[] {values.length}, data);
    }
}
