package ai.convoy.runtime.model;

import ai.convoy.kernels.Backend;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.quant.QuantizationOptions;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** A Hugging Face model directory opened for running: config, memory-mapped checkpoint, bound weights. */
public final class Model implements AutoCloseable {
    private static final String DEFAULT_RESOURCE = "/ai/convoy/runtime/default-model/";
    public static final String GENERATION_CONFIG = "generation_config.json";

    private final Path directory;
    private final ModelConfig config;
    private final Checkpoint checkpoint;
    private final Transformer transformer;

    private Model(Path directory, ModelConfig config, Checkpoint checkpoint, Transformer transformer) {
        this.directory = directory;
        this.config = config;
        this.checkpoint = checkpoint;
        this.transformer = transformer;
    }

    public static Model open(Path directory, Backend backend) {
        return open(directory, backend, QuantizationOptions.NONE);
    }

    /** Opens the model; full-precision linear weights are quantized while loading as {@code options} ask. */
    public static Model open(Path directory, Backend backend, QuantizationOptions options) {
        ModelConfig config = readConfig(directory);
        Checkpoint checkpoint = Checkpoint.open(directory);
        try {
            return new Model(directory, config, checkpoint, Transformer.load(config, checkpoint, backend, options));
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    public static ModelConfig readConfig(Path directory) {
        if (!Files.isDirectory(directory)) {
            throw ConvoyException.in(directory, "no such model directory");
        }
        return ModelConfig.read(directory);
    }

    /**
     * The small model packaged inside Convoy (a random-weight Llama with grouped-query attention), copied once
     * into a directory under the system's temporary folder so that it can be memory-mapped like any other.
     */
    public static Path embeddedDefault() {
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "convoy-default-model-" + resourceVersion());
        try {
            if (Files.isRegularFile(dir.resolve(".complete"))) {
                return dir;
            }
            Files.createDirectories(dir);
            Set<String> files = new LinkedHashSet<>(List.of(ModelConfig.FILE, GENERATION_CONFIG, Checkpoint.INDEX_FILE));
            JsonNode index = new ObjectMapper().readTree(resource(Checkpoint.INDEX_FILE));
            index.path("weight_map").properties().forEach(e -> files.add(e.getValue().asText()));
            for (String f : files) {
                try (InputStream in = resource(f)) {
                    Files.copy(in, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            Files.writeString(dir.resolve(".complete"), "");
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot unpack the embedded default model into " + dir, e);
        }
    }

    private static String resourceVersion() {
        Package p = Model.class.getPackage();
        String v = p.getImplementationVersion();
        return v == null ? "dev" : v;
    }

    private static InputStream resource(String name) throws IOException {
        InputStream in = Model.class.getResourceAsStream(DEFAULT_RESOURCE + name);
        if (in == null) {
            throw new IOException("resource " + DEFAULT_RESOURCE + name + " is missing from the build");
        }
        return in;
    }

    /** Token ids that end generation: generation_config.json's eos_token_id when present, else config.json's. */
    public List<Integer> eosTokenIds() {
        return eosTokenIds(directory, config);
    }

    public static List<Integer> eosTokenIds(Path directory, ModelConfig config) {
        Path gen = directory.resolve(GENERATION_CONFIG);
        if (Files.isRegularFile(gen)) {
            try {
                List<Integer> ids = ModelConfig.eosTokenIds(new ObjectMapper().readTree(gen.toFile()).path("eos_token_id"));
                if (!ids.isEmpty()) {
                    return ids;
                }
            } catch (IOException e) {
                throw ConvoyException.in(gen, "cannot parse: " + e.getMessage().lines().findFirst().orElse(""));
            }
        }
        return config.eosTokenIds();
    }

    public Path directory() {
        return directory;
    }

    public ModelConfig config() {
        return config;
    }

    public Checkpoint checkpoint() {
        return checkpoint;
    }

    public Transformer transformer() {
        return transformer;
    }

    @Override
    public void close() {
        checkpoint.close();
    }
}
