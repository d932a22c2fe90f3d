package ai.convoy.actors.cli;

import ai.convoy.runtime.model.EmbeddedModel;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Options every command that opens a model shares. */
final class ModelOptions {
    @Option(names = "--model", paramLabel = "DIR",
            description = "Hugging Face model directory (config.json + safetensors). Default: the small model built into Convoy.")
    Path model;

    @Mixin
    VerboseOption verbose;

    boolean usesEmbeddedDefault() {
        return model == null;
    }

    Path directory() {
        return model != null ? model : EmbeddedModel.directory();
    }
}
