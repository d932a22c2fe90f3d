package ai.convoy.runtime.plan;

import ai.convoy.runtime.ConvoyException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Places a model on devices, a pure function of sizes and budgets. The model is the sequence [embeddings, layer 0,
 * ..., layer n-1, final norm + lm_head]; each device takes a contiguous run of it, devices in order (GPUs by index,
 * then the CPU, then the disk), so layers on the GPUs come first and each boundary is crossed once per token. A
 * device pays its runtime overhead and activation workspace once; a layer brings its weights and its KV cache for
 * the largest batch at the longest context. No device's total may pass its budget.
 */
public final class Planner {
    /** CUDA context, cuBLAS handle and workspace, kernels. */
    public static final long GPU_OVERHEAD = 768L << 20;
    /** Runtime and JVM beyond the model's own arrays. */
    public static final long CPU_OVERHEAD = 512L << 20;
    /** Prompts are prefilled in chunks of at most this many tokens. */
    public static final int PREFILL_CHUNK = 512;

    public enum Strategy {
        /** Even bytes on every GPU. */
        BALANCED,
        /** As balanced, with GPU 0 at half a share, to leave room for sampling and the coordinator. */
        BALANCED_LOW_0,
        /** Fill GPU 0, then GPU 1, and so on. */
        SEQUENTIAL,
        /** A device for each module, given by a map. */
        MANUAL
    }

    /**
     * @param kvBytesGpu bytes per KV value on GPUs (2 for bf16/fp16); the CPU backend stores float32
     * @param manual     module name (model.embed_tokens, model.layers.N, model.layers, lm_head) to device id
     */
    public record Request(Footprint model, List<Device> devices, Strategy strategy, int maxBatch, int maxContext,
                          int kvBytesGpu, Map<String, String> manual) {
        public Request {
            if (maxBatch <= 0 || maxContext <= 0) {
                throw new ConvoyException("max batch size and max context must be positive");
            }
            if (maxContext > model.config().maxPositions()) {
                throw ConvoyException.in(model.config().source(), "--max-context " + maxContext + " is longer than the model's context of "
                        + model.config().maxPositions() + " (max_position_embeddings)");
            }
            // a member's devices stay together, in the order the members come: each member holds one run of layers
            List<String> members = devices.stream().map(Device::member).distinct().toList();
            if (members.size() > 1 && devices.stream().anyMatch(d -> !d.gpu())) {
                throw new ConvoyException("a plan over cluster members places layers on their GPUs only, not on "
                        + devices.stream().filter(d -> !d.gpu()).map(Device::id).findFirst().orElseThrow());
            }
            devices = devices.stream().sorted(Comparator.comparingInt((Device d) -> members.indexOf(d.member()))
                    .thenComparingInt(d -> d.kind().ordinal() < 2 ? 0 : d.kind().ordinal())
                    .thenComparingInt(Device::index)).toList();
        }

        /** The same request over other devices. */
        public Request withDevices(List<Device> others) {
            return new Request(model, others, strategy, maxBatch, maxContext, kvBytesGpu, manual);
        }
    }

    private Planner() {
    }

    public static Plan plan(Request r) {
        int items = r.model().config().layers() + 2;
        int[] placement = r.strategy() == Strategy.MANUAL ? manual(r) : automatic(r);
        if (placement == null) {
            throw new ConvoyException(shortfall(r));
        }
        Plan plan = build(r, placement);
        for (Plan.Account a : plan.accounts()) {
            if (a.total() > a.device().budget()) {
                throw new ConvoyException(a.device() + " needs " + Units.gib(a.total()) + " but its budget is " + Units.gib(a.device().budget())
                        + " (weights " + Units.gib(a.weights()) + ", KV cache " + Units.gib(a.kvCache()) + "); change the map or the budgets");
            }
        }
        assert placement.length == items;
        return plan;
    }

    // ---- costs ----

    private static long itemWeights(Request r, int item, boolean embeddingHere, Device d) {
        int layers = r.model().config().layers();
        if (item == 0) {
            return r.model().embedding();
        }
        boolean cuda = d.kind() == Device.Kind.CUDA;
        return item == layers + 1 ? r.model().head(embeddingHere, cuda) : r.model().layerWeights(cuda);
    }

    private static long itemKv(Request r, int item, Device d) {
        int layers = r.model().config().layers();
        if (item == 0 || item == layers + 1) {
            return 0;
        }
        return r.model().kvCachePerLayer(r.maxBatch(), r.maxContext(), d.gpu() ? r.kvBytesGpu() : 4);
    }

    private static long workspace(Request r) {
        return r.model().workspace(stepRows(r.maxBatch(), r.maxContext()));
    }

    /** A token row's own fields between stages besides its hidden state: sequence id, position and token id. */
    static final int ROW_FIELD_BYTES = Long.BYTES + 2 * Integer.BYTES;

    /** Bytes a token takes from one stage to the next: its hidden state in float32, and its row's fields. */
    public static long hopBytesPerToken(ai.convoy.runtime.model.ModelConfig config) {
        return (long) config.hiddenSize() * Float.BYTES + ROW_FIELD_BYTES;
    }

    /**
     * The most token rows a step runs, which the workspace is planned for: a decode step of every live sequence, or a
     * prompt chunk of {@link #PREFILL_CHUNK} tokens.
     */
    public static int stepRows(int maxBatch, int maxContext) {
        return Math.max(maxBatch, Math.min(PREFILL_CHUNK, maxContext));
    }

    /** What one stage holds: layers {@code firstLayer..lastLayer} (none when first > last), the embeddings, the head. */
    public record Part(Device device, int firstLayer, int lastLayer, boolean embedding, boolean head) {
        int layers() {
            return Math.max(0, lastLayer - firstLayer + 1);
        }
    }

    /** A stage's limits: live sequences, the positions each may reach, and token rows per step. */
    public record Fit(int maxBatch, int maxContext, int stepRows) {
        @Override
        public String toString() {
            return "batch " + maxBatch + ", context " + maxContext + ", " + stepRows + " rows a step";
        }
    }

    /**
     * The largest limits at which {@code part} fits in {@code bytes} of its device, no larger than {@code now}: the
     * rows of a prompt chunk shrink first, down to one a sequence, then the batch, then the context; null when its
     * weights with one sequence of one position do not fit.
     */
    public static Fit fit(Footprint model, Part part, int kvBytesGpu, Fit now, long bytes) {
        Device d = part.device();
        boolean cuda = d.kind() == Device.Kind.CUDA;
        long weights = (part.embedding() ? model.embedding() : 0) + (long) part.layers() * model.layerWeights(cuda)
                + (part.head() ? model.head(part.embedding(), cuda) : 0);
        long free = bytes - overhead(d) - weights;
        int kvBytes = d.gpu() ? kvBytesGpu : 4;
        java.util.function.IntToLongFunction kvOf = context -> part.layers() * model.kvCachePerLayer(1, context, kvBytes);
        java.util.function.IntToLongFunction logitsOf = batch -> part.head() ? model.logits(batch) : 0;
        for (int batch = now.maxBatch(); batch >= 1; batch--) {
            long room = free - batch * kvOf.applyAsLong(now.maxContext()) - logitsOf.applyAsLong(batch);
            // a step needs at least one row a sequence to decode every sequence at once
            for (int rows = Math.min(now.stepRows(), stepRows(batch, now.maxContext())); rows >= batch; rows--) {
                if (model.workspace(rows) <= room) {
                    return new Fit(batch, now.maxContext(), rows);
                }
            }
        }
        long perPosition = kvOf.applyAsLong(1);
        long room = free - model.workspace(1) - logitsOf.applyAsLong(1);
        if (perPosition == 0 || room < perPosition) {
            return null;
        }
        int context = (int) Math.min(now.maxContext() - 1, room / perPosition);
        return context < 1 ? null : new Fit(1, context, 1);
    }

    /** A simulated GPU is the CPU backend under a budget: no CUDA context to pay for. */
    public static long overhead(Device d) {
        return switch (d.kind()) {
            case CUDA -> GPU_OVERHEAD;
            case CPU -> CPU_OVERHEAD;
            case SIM, DISK -> 0;
        };
    }

    /** Bytes a device's memory holds for an item (disk items hold their KV cache in CPU memory instead). */
    private static long memoryCost(Request r, int item, Device d, boolean embeddingHere) {
        long kv = itemKv(r, item, d);
        long head = item == r.model().config().layers() + 1 ? r.model().logits(r.maxBatch()) : 0;
        return d.kind() == Device.Kind.DISK ? 0 : itemWeights(r, item, embeddingHere, d) + kv + head;
    }

    // ---- automatic strategies ----

    private static int[] automatic(Request r) {
        List<Device> devices = r.devices();
        long[] caps = devices.stream().mapToLong(Device::budget).toArray();
        int gpuItems = fill(r, caps, null);
        if (gpuItems < 0) {
            return null;
        }
        if (r.strategy() == Strategy.SEQUENTIAL) {
            int[] out = new int[r.model().config().layers() + 2];
            fill(r, caps, out);
            return out;
        }
        // smallest per-GPU share that keeps as many items on the GPUs as filling them to their budgets does
        long lo = 0;
        long hi = devices.stream().filter(Device::gpu).mapToLong(Device::budget).max().orElse(0) * 2;
        while (lo < hi) {
            long mid = lo + (hi - lo) / 2;
            int placed = fill(r, shares(devices, mid, r.strategy()), null);
            if (placed >= gpuItems) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        int[] out = new int[r.model().config().layers() + 2];
        fill(r, shares(devices, lo, r.strategy()), out);
        return out;
    }

    private static long[] shares(List<Device> devices, long share, Strategy strategy) {
        long[] caps = new long[devices.size()];
        for (int i = 0; i < caps.length; i++) {
            Device d = devices.get(i);
            long s = d.gpu() && strategy == Strategy.BALANCED_LOW_0 && i == 0 ? share / 2 : share;
            caps[i] = d.gpu() ? Math.min(d.budget(), s) : d.budget();
        }
        return caps;
    }

    /**
     * Places items in order, each on the first device from the current one that can still take it under its cap.
     * Returns how many items landed on GPUs, or -1 if some item fits nowhere; fills {@code out} when given.
     */
    private static int fill(Request r, long[] caps, int[] out) {
        List<Device> devices = r.devices();
        int items = r.model().config().layers() + 2;
        long[] load = new long[devices.size()];
        boolean[] used = new boolean[devices.size()];
        int cpu = indexOf(devices, Device.Kind.CPU);
        int d = 0;
        int onGpu = 0;
        int embedDevice = -1;
        for (int item = 0; item < items; item++) {
            while (d < devices.size() && !fits(r, devices, caps, load, used, cpu, d, item, embedDevice == d)) {
                d++;
            }
            if (d == devices.size()) {
                return -1;
            }
            Device dev = devices.get(d);
            if (!used[d]) {
                used[d] = true;
                load[d] += overhead(dev) + (dev.kind() == Device.Kind.DISK ? 0 : workspace(r));
                if (dev.kind() == Device.Kind.DISK && cpu >= 0 && !used[cpu]) {
                    used[cpu] = true;
                    load[cpu] += overhead(devices.get(cpu)) + workspace(r);
                }
            }
            load[d] += memoryCost(r, item, dev, embedDevice == d);
            if (dev.kind() == Device.Kind.DISK && cpu >= 0) {
                load[cpu] += itemKv(r, item, devices.get(cpu));
            }
            if (item == 0) {
                embedDevice = d;
            }
            if (dev.gpu()) {
                onGpu++;
            }
            if (out != null) {
                out[item] = d;
            }
        }
        return onGpu;
    }

    private static boolean fits(Request r, List<Device> devices, long[] caps, long[] load, boolean[] used, int cpu, int d,
                                int item, boolean embeddingHere) {
        Device dev = devices.get(d);
        long fixed = used[d] ? 0 : overhead(dev) + (dev.kind() == Device.Kind.DISK ? 0 : workspace(r));
        if (dev.kind() == Device.Kind.DISK) {
            if (cpu < 0) {
                return false;
            }
            long cpuFixed = used[cpu] ? 0 : overhead(devices.get(cpu)) + workspace(r);
            return load[cpu] + cpuFixed + itemKv(r, item, devices.get(cpu)) <= caps[cpu];
        }
        return load[d] + fixed + memoryCost(r, item, dev, embeddingHere) <= caps[d];
    }

    private static int indexOf(List<Device> devices, Device.Kind kind) {
        for (int i = 0; i < devices.size(); i++) {
            if (devices.get(i).kind() == kind) {
                return i;
            }
        }
        return -1;
    }

    // ---- manual map ----

    private static int[] manual(Request r) {
        int layers = r.model().config().layers();
        Map<String, Integer> byId = new LinkedHashMap<>();
        for (int i = 0; i < r.devices().size(); i++) {
            byId.put(r.devices().get(i).id(), i);
        }
        int[] out = new int[layers + 2];
        java.util.Arrays.fill(out, -1);
        for (Map.Entry<String, String> e : r.manual().entrySet()) {
            Integer d = byId.get(normalizeDeviceName(e.getValue(), r.devices()));
            if (d == null) {
                throw new ConvoyException("device map: " + e.getKey() + " goes to '" + e.getValue() + "', which is not among the devices "
                        + byId.keySet());
            }
            String module = e.getKey();
            if (module.equals("model.embed_tokens") || module.equals("")) {
                if (module.isEmpty()) {
                    java.util.Arrays.fill(out, d);
                } else {
                    out[0] = d;
                }
            } else if (module.equals("lm_head") || module.equals("model.norm")) {
                out[layers + 1] = d;
            } else if (module.equals("model.layers") || module.equals("model")) {
                for (int i = 1; i <= layers; i++) {
                    out[i] = d;
                }
                if (module.equals("model")) {
                    out[0] = d;
                }
            } else if (module.startsWith("model.layers.")) {
                int layer;
                try {
                    layer = Integer.parseInt(module.substring("model.layers.".length()));
                } catch (NumberFormatException ex) {
                    throw new ConvoyException("device map: unknown module '" + module + "'");
                }
                if (layer < 0 || layer >= layers) {
                    throw new ConvoyException("device map: " + module + " is beyond the model's " + layers + " layers");
                }
                out[layer + 1] = d;
            } else {
                throw new ConvoyException("device map: unknown module '" + module + "' (known: model.embed_tokens, model.layers, "
                        + "model.layers.N, model.norm, lm_head)");
            }
        }
        for (int i = 0; i < out.length; i++) {
            if (out[i] < 0) {
                throw new ConvoyException("device map: " + (i == 0 ? "model.embed_tokens" : i == layers + 1 ? "lm_head" : "model.layers." + (i - 1))
                        + " has no device");
            }
        }
        return out;
    }

    private static String normalizeDeviceName(String name, List<Device> devices) {
        if (name.matches("\\d+")) {
            return devices.stream().filter(d -> d.gpu() && d.index() == Integer.parseInt(name)).map(Device::id).findFirst().orElse(name);
        }
        return name;
    }

    // ---- results ----

    private static Plan build(Request r, int[] placement) {
        List<Device> devices = r.devices();
        int layers = r.model().config().layers();
        int embed = placement[0];
        List<Plan.Stage> stages = new ArrayList<>();
        for (int item = 1; item <= layers; item++) {
            Device d = devices.get(placement[item]);
            long w = itemWeights(r, item, false, d);
            long kv = itemKv(r, item, d.kind() == Device.Kind.DISK ? devices.get(indexOf(devices, Device.Kind.CPU)) : d);
            Plan.Stage last = stages.isEmpty() ? null : stages.getLast();
            if (last != null && last.device().equals(d) && last.lastLayer() == item - 2) {
                stages.set(stages.size() - 1, new Plan.Stage(d, last.firstLayer(), item - 1, last.weights() + w, last.kvCache() + kv));
            } else {
                stages.add(new Plan.Stage(d, item - 1, item - 1, w, kv));
            }
        }
        List<Plan.Account> accounts = new ArrayList<>();
        int cpu = indexOf(devices, Device.Kind.CPU);
        boolean diskUsed = false;
        for (int item = 0; item < placement.length; item++) {
            diskUsed |= devices.get(placement[item]).kind() == Device.Kind.DISK;
        }
        for (int d = 0; d < devices.size(); d++) {
            Device dev = devices.get(d);
            long weights = 0;
            long kv = 0;
            boolean used = false;
            for (int item = 0; item < placement.length; item++) {
                if (placement[item] == d) {
                    used = true;
                    if (dev.kind() != Device.Kind.DISK) {
                        weights += itemWeights(r, item, embed == d, dev);
                        kv += itemKv(r, item, dev);
                    }
                } else if (d == cpu && devices.get(placement[item]).kind() == Device.Kind.DISK) {
                    kv += itemKv(r, item, dev);
                }
            }
            boolean hostsDiskWork = d == cpu && diskUsed;
            if (!used && !hostsDiskWork) {
                continue;
            }
            long workspace = dev.kind() == Device.Kind.DISK ? 0 : workspace(r)
                    + (placement[layers + 1] == d ? r.model().logits(r.maxBatch()) : 0);
            accounts.add(new Plan.Account(dev, weights, kv, workspace, overhead(dev)));
        }
        return new Plan(stages, devices.get(embed), devices.get(placement[layers + 1]), accounts, layers);
    }

    /** Why it does not fit, and by how much, with what to change. */
    private static String shortfall(Request r) {
        long needed = r.model().weights(false) + r.model().config().layers()
                * r.model().kvCachePerLayer(r.maxBatch(), r.maxContext(), r.kvBytesGpu());
        long gpus = r.devices().stream().filter(Device::gpu).count();
        long usable = r.devices().stream().filter(d -> d.kind() != Device.Kind.DISK)
                .mapToLong(d -> Math.max(0, d.budget() - overhead(d) - workspace(r))).sum();
        String gpuBudgets = r.devices().stream().filter(Device::gpu).map(d -> Units.gib(d.budget())).distinct()
                .reduce((a, b) -> a + "/" + b).orElse("none");
        String cpu = r.devices().stream().filter(d -> d.kind() == Device.Kind.CPU).map(d -> Units.gib(d.budget()) + " of CPU memory")
                .findFirst().orElse("no CPU memory");
        return String.format("the model does not fit: needs %s more: %s of weights and KV cache (batch %d x context %d) for %d GPU%s of %s"
                        + " and %s; lower --max-context or --max-batch-size, add cpu memory, quantize, or use more GPUs",
                Units.gib(Math.max(needed - usable, 0)), Units.gib(needed), r.maxBatch(), r.maxContext(), gpus, gpus == 1 ? "" : "s",
                gpuBudgets, cpu);
    }
}
