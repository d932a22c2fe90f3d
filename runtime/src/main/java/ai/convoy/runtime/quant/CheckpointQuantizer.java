package ai.convoy.runtime.quant;

import ai.convoy.kernels.HostTensor;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.AtomicFile;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.formats.OutputDirectory;
import ai.convoy.runtime.formats.SafetensorsWriter;
import ai.convoy.runtime.model.ExpectedTensors;
import ai.convoy.runtime.model.ModelConfig;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes a full-precision Hugging Face checkpoint again in the bitsandbytes layout: linear weights quantized one
 * tensor at a time (and their full-precision pages released right after), everything else copied as stored,
 * {@code quantization_config} added to config.json, the other files of the directory copied.
 */
public final class CheckpointQuantizer {
    /** transformers' default shard size. */
    public static final long DEFAULT_SHARD_BYTES = 5_000_000_000L;
    private static final Pattern LINEAR_WEIGHT =
            Pattern.compile("model\\.layers\\.\\d+\\.(self_attn\\.[qkvo]_proj|mlp\\.(gate|up|down)_proj)\\.weight");

    private CheckpointQuantizer() {
    }

    /** Progress after each tensor: bytes of the source read so far, of how many. */
    public record Progress(long doneBytes, long totalBytes, String tensor) {
    }

    public record Summary(long sourceBytes, long writtenBytes, int quantizedTensors) {
    }

    public static Summary quantize(Path in, Path out, QuantizationOptions options, long maxShardBytes, Consumer<Progress> progress) {
        if (options.method() == QuantizationOptions.Method.NONE) {
            throw new ConvoyException("choose a quantization: nf4, fp4 or int8");
        }
        ModelConfig.read(in);
        ObjectNode config = readConfigTree(in.resolve(ModelConfig.FILE));
        if (config.has("quantization_config")) {
            throw ConvoyException.in(in.resolve(ModelConfig.FILE), "the model is already quantized (it has a quantization_config)");
        }
        int quantized = 0;
        long done = 0;
        try (Checkpoint checkpoint = Checkpoint.open(in); OutputDirectory claimed = OutputDirectory.claim(out, in)) {
            ExpectedTensors.check(ModelConfig.read(in), checkpoint);
            long room = SafetensorsWriter.headerRoomFor(BnbLayout.MAX_ENTRIES * (long) checkpoint.tensors().size(),
                    checkpoint.tensors().keySet().stream().mapToInt(String::length).max().orElse(0) + BnbLayout.LONGEST_SUFFIX);
            try (SafetensorsWriter writer = new SafetensorsWriter(out, maxShardBytes, room)) {
                long total = checkpoint.totalBytes();
                for (HostTensor t : checkpoint.tensors().values()) {
                    if (isQuantized(t.name(), options)) {
                        write(writer, quantize(t, options));
                        quantized++;
                    } else {
                        writer.add(t.name(), t.dtype(), t.shape(), t.data());
                    }
                    if (t.data().isMapped()) {
                        t.data().unload();
                    }
                    done += t.data().byteSize();
                    progress.accept(new Progress(done, total, t.name()));
                }
                writer.finish();
            }
            config.set("quantization_config", quantizationConfig(options));
            writeConfigTree(out.resolve(ModelConfig.FILE), config);
            copyOtherFiles(in, out);
            claimed.commit();
        }
        return new Summary(done, directorySize(out), quantized);
    }

    static boolean isQuantized(String name, QuantizationOptions options) {
        return isLinearWeight(name) || (options.quantizeLmHead() && name.equals("lm_head.weight"));
    }

    /** The weights transformers quantizes by default: every linear layer but lm_head. */
    public static boolean isLinearWeight(String name) {
        return LINEAR_WEIGHT.matcher(name).matches();
    }

    private static Map<String, BnbLayout.Entry> quantize(HostTensor t, QuantizationOptions options) {
        String layer = t.name().substring(0, t.name().length() - ".weight".length());
        return options.method().fourBit()
                ? BnbLayout.entries(t.name(), Quantizer.fourBit(t, options.method().fourBitCode(), options.blocksize(), options.doubleQuant()))
                : BnbLayout.entries(layer, Quantizer.int8(t));
    }

    private static void write(SafetensorsWriter writer, Map<String, BnbLayout.Entry> entries) {
        entries.values().forEach(e -> writer.add(e.name(), e.dtype(), e.shape(), e.data()));
    }

    /** transformers' BitsAndBytesConfig.to_dict() for these options. */
    static ObjectNode quantizationConfig(QuantizationOptions o) {
        boolean four = o.method().fourBit();
        ObjectNode q = new ObjectMapper().createObjectNode();
        q.put("_load_in_4bit", four);
        q.put("_load_in_8bit", !four);
        q.put("bnb_4bit_compute_dtype", o.computeDtype().torchName());
        q.put("bnb_4bit_quant_storage", "uint8");
        q.put("bnb_4bit_quant_type", o.method() == QuantizationOptions.Method.FP4 ? "fp4" : "nf4");
        q.put("bnb_4bit_use_double_quant", four && o.doubleQuant());
        q.put("llm_int8_enable_fp32_cpu_offload", false);
        q.put("llm_int8_has_fp16_weight", false);
        q.putNull("llm_int8_skip_modules");
        q.put("llm_int8_threshold", 6.0);
        q.put("load_in_4bit", four);
        q.put("load_in_8bit", !four);
        q.put("quant_method", "bitsandbytes");
        return q;
    }

    private static ObjectNode readConfigTree(Path file) {
        try {
            return (ObjectNode) new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot parse: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    private static void writeConfigTree(Path file, ObjectNode config) {
        try {
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), config);
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot write: " + AtomicFile.describe(e));
        }
    }

    /** Tokenizer, generation config and any other files travel with the model; the weights were rewritten. */
    private static void copyOtherFiles(Path in, Path out) {
        try (Stream<Path> files = Files.list(in)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (Files.isRegularFile(f) && !name.endsWith(".safetensors") && !name.equals(Checkpoint.INDEX_FILE)
                        && !name.equals(ModelConfig.FILE)) {
                    Files.copy(f, out.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw ConvoyException.in(in, "cannot copy files to " + out + ": " + AtomicFile.describe(e));
        }
    }

    private static long directorySize(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        } catch (IOException e) {
            throw ConvoyException.in(dir, "cannot list: " + e.getMessage());
        }
    }
}
