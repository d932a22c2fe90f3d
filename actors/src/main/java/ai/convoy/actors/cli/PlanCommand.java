package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.ModelShapes;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Devices;
import ai.convoy.runtime.plan.Footprint;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "plan", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Places a model's layers on GPUs, the CPU and the disk, and accounts for every byte the run will allocate.")
final class PlanCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    static final class Source {
        @Option(names = "--model", paramLabel = "DIR", description = "Model directory.")
        Path model;

        @Option(names = "--config", paramLabel = "FILE", description = "A config.json.")
        Path config;

        @Option(names = "--shape", paramLabel = "NAME", description = "A known shape: ${COMPLETION-CANDIDATES}.",
                completionCandidates = SynthesizeCommand.ShapeNames.class)
        String shape;
    }

    @Option(names = "--quantization", paramLabel = "none|nf4|fp4|int8",
            description = "How linear weights are held (default: as the checkpoint stores them, else none).")
    String quantization;

    @Mixin
    QuantizationMixin quantizationSettings;

    @Option(names = "--devices", defaultValue = "auto", paramLabel = "auto|cuda:0,cuda:1|sim:0=24GiB,sim:1=24GiB|cpu",
            description = "Devices to plan for (default: ${DEFAULT-VALUE}: the CUDA GPUs, the CPU and the disk).")
    String devices;

    @Option(names = "--max-memory", paramLabel = "0=20GiB,1=20GiB,cpu=64GiB",
            description = "Budgets (GiB, GB, MiB, MB); only the devices named are used. Default: free memory less a safety margin.")
    String maxMemory;

    @Option(names = "--strategy", defaultValue = "balanced", paramLabel = "balanced|balanced_low_0|sequential|MAP.json",
            description = "balanced (default), balanced_low_0, sequential, or a JSON device map of module name to device.")
    String strategy;

    @Option(names = "--max-batch-size", defaultValue = "1", description = "Sequences decoded together (default: ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--max-context", description = "Longest sequence, prompt and output (default: the model's, at most 4096).")
    Integer maxContext;

    @Option(names = "--kv-dtype", defaultValue = "bf16", paramLabel = "bf16|fp16|fp32", description = "KV cache dtype on GPUs (default: ${DEFAULT-VALUE}; the CPU keeps float32).")
    String kvDtype;

    @Option(names = "--json", description = "Print the plan as JSON, sizes in bytes.")
    boolean json;

    @Option(names = "--verbose", description = "Print stack traces with errors.")
    boolean verbose;

    @Override
    public Integer call() throws IOException {
        ModelConfig config = config();
        QuantizationOptions.Method method = quantization != null ? Methods.parse("--quantization", quantization)
                : config.storedQuantization().equals("none") ? QuantizationOptions.Method.NONE : Methods.parse("stored", config.storedQuantization());
        QuantizationOptions options = quantizationSettings.options(method);
        int context = maxContext != null ? maxContext : Math.min(config.maxPositions(), 4096);
        int kvBytes = switch (kvDtype.toLowerCase()) {
            case "bf16", "fp16", "bfloat16", "float16" -> 2;
            case "fp32", "float32" -> 4;
            default -> throw new ConvoyException("--kv-dtype must be bf16, fp16 or fp32, got '" + kvDtype + "'");
        };
        Path near = source.model != null ? source.model : Path.of(".");
        List<Device> deviceList = Devices.resolve(devices, Devices.parseBudgets(maxMemory), Devices.cudaGpus(), Devices.availableRam(),
                Devices.diskFree(near));
        if (deviceList.isEmpty()) {
            throw new ConvoyException("no devices to plan for: name some with --devices or --max-memory");
        }
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
        Footprint footprint = Footprint.of(config, options);
        Planner.Request request = new Planner.Request(footprint, deviceList, s, maxBatch, context, kvBytes, manual);
        PrintWriter out = spec.commandLine().getOut();
        Plan plan;
        try {
            plan = Planner.plan(request);
        } catch (ConvoyException e) {
            if (json) {
                ObjectNode failed = new ObjectMapper().createObjectNode();
                failed.put("fits", false);
                failed.put("error", e.getMessage());
                failed.putArray("stages");
                out.println(failed.toPrettyString());
                out.flush();
            }
            throw e;
        }
        if (json) {
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(toJson(plan, footprint, options, s,
                    context, kvDtype)));
        } else {
            printTable(out, plan, footprint, options, s, context);
        }
        out.flush();
        return 0;
    }

    private ModelConfig config() {
        if (source.model != null) {
            return Model.readConfig(source.model);
        }
        if (source.config != null) {
            return ModelConfig.read(source.config);
        }
        try {
            Path file = Files.createTempFile("convoy-shape-", ".json");
            file.toFile().deleteOnExit();
            Files.writeString(file, ModelShapes.configJson(source.shape).toString());
            return ModelConfig.read(file);
        } catch (IOException e) {
            throw new ConvoyException("cannot write a temporary file: " + e.getMessage());
        }
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

    /** A stage's row: its layers' bytes, plus the device's embeddings/lm_head, workspace and overhead on its first stage. */
    private record Row(Plan.Stage stage, long weights, long kvCache, long workspace, long overhead) {
        long total() {
            return weights + kvCache + workspace + overhead;
        }
    }

    private static List<Row> rows(Plan plan) {
        Map<Device, Boolean> seen = new LinkedHashMap<>();
        return plan.stages().stream().map(st -> {
            boolean first = seen.putIfAbsent(st.device(), true) == null;
            if (!first || st.device().kind() == Device.Kind.DISK) {
                return new Row(st, st.weights(), st.kvCache(), 0, 0);
            }
            Plan.Account a = plan.account(st.device());
            long layerWeights = plan.stages().stream().filter(x -> x.device().equals(st.device())).mapToLong(Plan.Stage::weights).sum();
            long layerKv = plan.stages().stream().filter(x -> x.device().equals(st.device())).mapToLong(Plan.Stage::kvCache).sum();
            return new Row(st, st.weights() + a.weights() - layerWeights, st.kvCache() + a.kvCache() - layerKv, a.workspace(), a.overhead());
        }).toList();
    }

    private ObjectNode toJson(Plan plan, Footprint f, QuantizationOptions q, Planner.Strategy s, int context, String kv) {
        ObjectNode root = new ObjectMapper().createObjectNode();
        root.put("fits", true);
        root.put("model", f.config().architecture().className());
        root.put("quantization", q.method().cliName());
        root.put("strategy", s.name().toLowerCase());
        root.put("max_batch_size", maxBatch);
        root.put("max_context", context);
        root.put("kv_cache_dtype", kv.toLowerCase());
        ArrayNode stages = root.putArray("stages");
        for (Row r : rows(plan)) {
            ObjectNode st = stages.addObject();
            st.put("device", r.stage().device().id());
            st.put("first_layer", r.stage().firstLayer());
            st.put("last_layer", r.stage().lastLayer());
            ObjectNode bytes = st.putObject("bytes");
            bytes.put("weights", r.weights());
            bytes.put("kv_cache", r.kvCache());
            bytes.put("workspace", r.workspace());
            bytes.put("overhead", r.overhead());
            st.put("total", r.total());
            st.put("budget", r.stage().device().budget());
        }
        root.put("embed", plan.embedDevice().id());
        root.put("lm_head", plan.headDevice().id());
        ArrayNode devicesNode = root.putArray("devices");
        for (Plan.Account a : plan.accounts()) {
            ObjectNode d = devicesNode.addObject();
            d.put("device", a.device().id());
            d.put("name", a.device().name());
            d.put("total", a.total());
            d.put("budget", a.device().budget());
            d.put("margin", a.margin());
        }
        ArrayNode boundaries = root.putArray("boundaries");
        for (int i = 1; i < plan.stages().size(); i++) {
            ObjectNode b = boundaries.addObject();
            b.put("from", plan.stages().get(i - 1).device().id());
            b.put("to", plan.stages().get(i).device().id());
            b.put("after_layer", plan.stages().get(i - 1).lastLayer());
            // one float32 hidden state per token crosses each boundary
            b.put("bytes_per_token", 4L * f.config().hiddenSize());
        }
        return root;
    }

    private void printTable(PrintWriter out, Plan plan, Footprint f, QuantizationOptions q, Planner.Strategy s, int context) {
        out.printf("plan: %s, %d layers, weights %s, batch %d x context %d, KV cache %s, strategy %s%n",
                f.config().architecture().className(), plan.layers(), q.describe(), maxBatch, context, kvDtype, s.name().toLowerCase());
        out.printf("%-6s %-8s %-9s %11s %11s %11s %11s %11s %11s%n", "stage", "device", "layers", "weights", "KV cache", "workspace",
                "overhead", "total", "budget");
        int i = 0;
        for (Row r : rows(plan)) {
            Device d = r.stage().device();
            out.printf("%-6d %-8s %-9s %11s %11s %11s %11s %11s %11s%n", i++, d.id(), r.stage().firstLayer() + "-" + r.stage().lastLayer(),
                    Units.bytes(r.weights()), Units.bytes(r.kvCache()), Units.bytes(r.workspace()), Units.bytes(r.overhead()),
                    Units.bytes(r.total()), d.kind() == Device.Kind.DISK ? "-" : Units.bytes(d.budget()));
        }
        out.printf("embeddings on %s; final norm and lm_head on %s%n", plan.embedDevice().id(), plan.headDevice().id());
        int cpuLayers = plan.layersOn(Device.Kind.CPU);
        int diskLayers = plan.layersOn(Device.Kind.DISK);
        if (cpuLayers > 0) {
            out.printf("offloads %d of %d layers to the CPU (they run at CPU speed)%n", cpuLayers, plan.layers());
        }
        if (diskLayers > 0) {
            out.printf("offloads %d of %d layers to the disk (weights stay memory-mapped; they run at CPU speed, paged from disk)%n",
                    diskLayers, plan.layers());
        }
        if (cpuLayers == 0 && diskLayers == 0) {
            out.printf("fits on the GPUs: smallest margin %s%n", Units.bytes(plan.accounts().stream().mapToLong(Plan.Account::margin).min().orElse(0)));
        }
    }
}
