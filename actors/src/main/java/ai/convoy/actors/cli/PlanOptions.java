package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Devices;
import ai.convoy.runtime.plan.Footprint;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Where a model goes and for how much work: the options convoy plan and convoy run share. */
final class PlanOptions {
    @Mixin
    DeviceOptions deviceOptions;

    @Option(names = "--strategy", defaultValue = "balanced", paramLabel = "balanced|balanced_low_0|sequential|MAP.json",
            description = "balanced (default), balanced_low_0, sequential, or a JSON device map of module name to device.")
    String strategy;

    @Option(names = "--max-batch-size", defaultValue = "8", description = "Sequences decoded together (default: ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--max-context", description = "Longest sequence, prompt and output (default: the model's, at most 4096).")
    Integer maxContext;

    @Option(names = "--kv-dtype", defaultValue = "bf16", paramLabel = "bf16|fp16|fp32", description = "KV cache dtype on GPUs (default: ${DEFAULT-VALUE}; fp16 is kept as bf16, which has its range; the CPU keeps float32).")
    String kvDtype;

    /** Whether any of these options was given (convoy run then runs through the pipeline). */
    boolean given() {
        return deviceOptions.given() || !strategy.equals("balanced");
    }

    /** The longest sequence a run allows: --max-context, within the model's context. */
    int context(ModelConfig config) {
        if (maxContext != null && (maxContext <= 0 || maxContext > config.maxPositions())) {
            throw new ConvoyException("--max-context must be between 1 and the model's context of " + config.maxPositions() + ", got " + maxContext);
        }
        return maxContext != null ? maxContext : config.maxPositions();
    }

    /** The longest sequence a plan makes room for: --max-context, or the model's context up to 4096. */
    int plannedContext(ModelConfig config) {
        return maxContext != null ? context(config) : Math.min(config.maxPositions(), 4096);
    }

    Planner.Request request(ModelConfig config, QuantizationOptions options, Path near) {
        int context = plannedContext(config);
        int kvBytes = switch (kvDtype.toLowerCase()) {
            case "bf16", "fp16", "bfloat16", "float16" -> 2;
            case "fp32", "float32" -> 4;
            default -> throw new ConvoyException("--kv-dtype must be bf16, fp16 or fp32, got '" + kvDtype + "'");
        };
        List<Device> deviceList = deviceOptions.resolve(near);
        Planner.Strategy s;
        Map<String, String> manual = Map.of();
        switch (strategy.toLowerCase()) {
            case "balanced" -> s = Planner.Strategy.BALANCED;
            case "balanced_low_0" -> s = Planner.Strategy.BALANCED_LOW_0;
            case "sequential" -> s = Planner.Strategy.SEQUENTIAL;
            default -> {
                s = Planner.Strategy.MANUAL;
                manual = readMap(Path.of(strategy));
            }
        }
        return new Planner.Request(Footprint.of(config, options), deviceList, s, maxBatch, context, kvBytes, manual);
    }

    private static Map<String, String> readMap(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new ConvoyException("--strategy: '" + file + "' is neither balanced, balanced_low_0, sequential nor a device map file");
        }
        try {
            Map<String, String> map = new LinkedHashMap<>();
            new ObjectMapper().readTree(file.toFile()).properties().forEach(e -> map.put(e.getKey(), e.getValue().asText()));
            return map;
        } catch (IOException e) {
            throw ConvoyException.in(file, "not a JSON object of module name to device: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

}
