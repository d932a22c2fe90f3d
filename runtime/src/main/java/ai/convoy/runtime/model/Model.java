package ai.convoy.runtime.model;

import ai.convoy.kernels.Backend;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.quant.QuantizationOptions;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** A Hugging Face model directory opened for running: config, memory-mapped checkpoint, bound weights. */
public final class Model implements AutoCloseable {
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
