package ai.convoy.runtime.model;

import ai.convoy.kernels.DType;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.AtomicFile;
import ai.convoy.runtime.formats.OutputDirectory;
import ai.convoy.runtime.formats.SafetensorsWriter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * Writes a random-weight bf16 checkpoint of any config, tensor by tensor, so that memory and speed can be measured
 * on real shapes without downloading a model. Weights are N(0, 0.02), norm scales 1, biases 0.
 */
public final class SyntheticCheckpoint {
    private static final int CHUNK = 1 << 20;

    private SyntheticCheckpoint() {
    }

    private record Spec(String name, long[] shape, boolean ones) {
        long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** Writes config.json and the weights into {@code out}; reports bytes written after each tensor. */
    public static void write(ObjectNode configJson, Path out, long seed, long maxShardBytes, Consumer<long[]> progress) {
        ModelConfig c = ModelConfig.parse(out.resolve(ModelConfig.FILE), configJson);
        try (OutputDirectory claimed = OutputDirectory.claim(out, null)) {
            try {
                new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.resolve(ModelConfig.FILE).toFile(), configJson);
            } catch (IOException e) {
                throw ConvoyException.in(out, "cannot write: " + AtomicFile.describe(e));
            }
            List<Spec> specs = specs(c);
            long total = specs.stream().mapToLong(s -> s.elements() * 2).sum();
            long done = 0;
            SplittableRandom random = new SplittableRandom(seed);
            long room = SafetensorsWriter.headerRoomFor(specs.size(), specs.stream().mapToInt(s -> s.name().length()).max().orElse(0));
            try (SafetensorsWriter writer = new SafetensorsWriter(out, maxShardBytes, room)) {
                for (Spec s : specs) {
                    try (Arena arena = Arena.ofShared()) {
                        MemorySegment data = arena.allocate(s.elements() * 2, 8);
                        fill(data, s.elements(), s.ones(), random.split());
                        writer.add(s.name(), DType.BF16, s.shape(), data);
                    }
                    done += s.elements() * 2;
                    progress.accept(new long[] {done, total});
                }
                writer.finish();
            }
            claimed.commit();
        }
    }

    private static List<Spec> specs(ModelConfig c) {
        List<Spec> specs = new ArrayList<>();
        ExpectedTensors.of(c).forEach((name, shape) -> specs.add(new Spec(name, shape, name.endsWith("norm.weight"))));
        return specs;
    }

    /** bf16 values, filled in parallel chunks each with its own split of the random stream. */
    static void fill(MemorySegment data, long n, boolean ones, SplittableRandom random) {
        ValueLayout.OfShort bf16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        int chunks = (int) ((n + CHUNK - 1) / CHUNK);
        SplittableRandom[] streams = new SplittableRandom[chunks];
        for (int i = 0; i < chunks; i++) {
            streams[i] = random.split();
        }
        IntStream.range(0, chunks).parallel().forEach(k -> {
            long from = (long) k * CHUNK;
            long to = Math.min(n, from + CHUNK);
            for (long i = from; i < to; i++) {
                float v = ones ? 1f : (float) (streams[k].nextGaussian() * 0.02);
                int bits = Float.floatToRawIntBits(v);
                // round to nearest even
                data.set(bf16, 2 * i, (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16));
            }
        });
    }
}
