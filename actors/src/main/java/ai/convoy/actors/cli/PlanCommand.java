package ai.convoy.actors.cli;

import ai.convoy.actors.cluster.ClusterConfig;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.model.EmbeddedModel;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.ModelShapes;
import ai.convoy.runtime.plan.Device;
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
import java.util.List;
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

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Source source;

    static final class Source {
        @Option(names = "--model", paramLabel = "DIR", description = "Model directory (default: the small model built into Convoy).")
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

    @Mixin
    PlanOptions planOptions;

    @Option(names = "--cluster-config", paramLabel = "FILE",
            description = "Plan over the GPUs a cluster config gives its members (each member's devices and max-memory), in its members' order.")
    Path clusterConfig;

    @Option(names = "--json", description = "Print the plan as JSON, sizes in bytes.")
    boolean json;

    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() throws IOException {
        ModelConfig config = config();
        QuantizationOptions options = quantizationSettings.options(quantization != null ? Methods.parse("--quantization", quantization)
                : QuantizationOptions.Method.NONE);
        Planner.Request request = planOptions.request(config, options, source != null && source.model != null ? source.model : Path.of("."));
        if (clusterConfig != null) {
            request = overCluster(request);
        }
        String kvDtype = planOptions.kvDtype;
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
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(toJson(plan, request, kvDtype)));
        } else {
            PlanPrinter.print(out, plan, request, kvDtype);
        }
        out.flush();
        return 0;
    }

    /** The request over the GPUs of every member of the cluster config, its members' CUDA GPUs planned from their budgets. */
    private Planner.Request overCluster(Planner.Request request) {
        if (planOptions.deviceOptions.given()) {
            throw new ConvoyException("--cluster-config plans over the devices its members are given there: leave out --devices and --max-memory");
        }
        ClusterConfig cluster = ClusterConfig.load(clusterConfig);
        List<Device> devices = cluster.members().stream().flatMap(m -> cluster.devicesOf(m.name(), List.of()).stream()).toList();
        return request.withDevices(devices);
    }

    private ModelConfig config() {
        if (source == null) {
            return Model.readConfig(EmbeddedModel.directory());
        }
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

    private ObjectNode toJson(Plan plan, Planner.Request request, String kv) {
        Footprint f = request.model();
        ObjectNode root = new ObjectMapper().createObjectNode();
        root.put("fits", true);
        root.put("model", f.config().architecture().className());
        root.put("quantization", f.quantization().method().cliName());
        root.put("strategy", request.strategy().name().toLowerCase());
        root.put("max_batch_size", request.maxBatch());
        root.put("max_context", request.maxContext());
        root.put("kv_cache_dtype", kv.toLowerCase());
        ArrayNode stages = root.putArray("stages");
        for (PlanPrinter.Row r : PlanPrinter.rows(plan)) {
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
}
