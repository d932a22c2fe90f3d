package ai.convoy.runtime.plan;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.ModelShapes;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.quant.QuantizationOptions.Method;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

class PlannerTest {
    private static final long GIB = 1L << 30;

    static ModelConfig shape(String name) {
        return parse(ModelShapes.configJson(name));
    }

    static ModelConfig parse(ObjectNode json) {
        try {
            Path file = java.nio.file.Files.createTempFile("config", ".json");
            java.nio.file.Files.writeString(file, json.toString());
            return ModelConfig.read(file);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** CUDA GPUs of these budgets (with the CUDA context's overhead). */
    static List<Device> gpus(long... budgets) {
        List<Device> out = new ArrayList<>();
        for (int i = 0; i < budgets.length; i++) {
            out.add(new Device(Device.Kind.CUDA, i, "gpu", budgets[i], budgets[i]));
        }
        return out;
    }

    static Device cpu(long budget) {
        return new Device(Device.Kind.CPU, 0, "cpu", budget, budget);
    }

    static Device disk() {
        return new Device(Device.Kind.DISK, 0, "disk", -1, Long.MAX_VALUE);
    }

    static Plan plan(ModelConfig c, QuantizationOptions q, List<Device> devices, Planner.Strategy s, int batch, int context) {
        return Planner.plan(new Planner.Request(Footprint.of(c, q), devices, s, batch, context, 2, Map.of()));
    }

    @Test
    void aCudaGpuIsChargedFloat32BlockScalesForFourBitWeights() {
        // the CUDA backend expands double-quantized absmax to one float per block of 64 on upload; the CPU keeps a byte
        ModelConfig c = ModelShapes.config("llama3-8b");
        Footprint f = Footprint.of(c, QuantizationOptions.of(QuantizationOptions.Method.NF4));
        long[][] shapes = {{4096, 4096}, {1024, 4096}, {1024, 4096}, {4096, 4096}, {14336, 4096}, {14336, 4096}, {4096, 14336}};
        long onCuda = 2 * 4 * 4096;
        for (long[] m : shapes) {
            long n = m[0] * m[1];
            onCuda += n / 2 + 4 * (n / 64);
        }
        assertEquals(onCuda, f.layerWeights(true));
        assertTrue(f.layerWeights(false) < onCuda, "double quantization keeps less on the CPU");
    }

    @Test
    void llama3_70bNf4FitsOnFourConsumerGpus() {
        Plan p = plan(shape("llama3-70b"), QuantizationOptions.of(Method.NF4), gpus(22 * GIB, 22 * GIB, 22 * GIB, 22 * GIB),
                Planner.Strategy.BALANCED, 8, 4096);
        assertEquals(80, p.layersOn(Device.Kind.CUDA));
        assertEquals(4, p.accounts().size());
        p.accounts().forEach(a -> assertTrue(a.total() <= 22 * GIB, a.toString()));
    }

    @Test
    void llama3_70bNf4OnTwoGpusOffloadsTheRestToTheCpu() {
        List<Device> devices = new ArrayList<>(gpus(20 * GIB, 20 * GIB));
        devices.add(cpu(64 * GIB));
        devices.add(disk());
        Plan p = plan(shape("llama3-70b"), QuantizationOptions.of(Method.NF4), devices, Planner.Strategy.BALANCED, 8, 4096);
        assertTrue(p.layersOn(Device.Kind.CUDA) > 40, "most layers stay on the GPUs");
        assertTrue(p.layersOn(Device.Kind.CPU) > 0, "the rest runs on the CPU");
        assertEquals(0, p.layersOn(Device.Kind.DISK));
        assertEquals(80, p.layersOn(Device.Kind.CUDA) + p.layersOn(Device.Kind.CPU));
    }

    @Test
    void infeasibleIsAnErrorThatSaysByHowMuch() {
        ConvoyException e = assertThrows(ConvoyException.class, () -> plan(shape("llama3-70b"), QuantizationOptions.NONE,
                gpus(20 * GIB, 20 * GIB), Planner.Strategy.BALANCED, 8, 4096));
        assertTrue(e.getMessage().matches(".*needs [0-9.]+ GiB more.*2 GPUs of 20.0 GiB.*"), e.getMessage());
    }

    @Test
    void balancedLow0LeavesGpu0Lighter() {
        Plan p = plan(shape("llama3-8b"), QuantizationOptions.NONE, gpus(40 * GIB, 40 * GIB, 40 * GIB), Planner.Strategy.BALANCED_LOW_0, 1, 2048);
        long first = p.accounts().get(0).weights();
        long second = p.accounts().get(1).weights();
        assertTrue(first < second * 0.75, first + " vs " + second);
        Plan sequential = plan(shape("llama3-8b"), QuantizationOptions.NONE, gpus(40 * GIB, 40 * GIB, 40 * GIB), Planner.Strategy.SEQUENTIAL, 1, 2048);
        assertEquals(1, sequential.accounts().size(), "sequential fills GPU 0 first");
    }

    @Test
    void manualMapsAreFollowedAndChecked() {
        ModelConfig c = shape("llama3.2-1b");
        List<Device> devices = new ArrayList<>(gpus(8 * GIB, 8 * GIB));
        devices.add(cpu(32 * GIB));
        Map<String, String> map = new java.util.LinkedHashMap<>();
        map.put("model.embed_tokens", "0");
        map.put("model.layers", "cuda:0");
        for (int i = 10; i < 16; i++) {
            map.put("model.layers." + i, "cpu");
        }
        map.put("lm_head", "cpu");
        Plan p = Planner.plan(new Planner.Request(Footprint.of(c, QuantizationOptions.NONE), devices, Planner.Strategy.MANUAL, 1, 1024, 2, map));
        assertEquals(10, p.layersOn(Device.Kind.CUDA));
        assertEquals(6, p.layersOn(Device.Kind.CPU));
        map.remove("lm_head");
        assertThrows(ConvoyException.class, () -> Planner.plan(new Planner.Request(Footprint.of(c, QuantizationOptions.NONE), devices,
                Planner.Strategy.MANUAL, 1, 1024, 2, map)));
    }

    @Test
    void weightBytesMatchWhatTheLoaderAllocates() {
        for (ParityModels.Reference ref : ParityModels.all()) {
            for (Method m : Method.values()) {
                QuantizationOptions q = QuantizationOptions.of(m);
                try (Model model = Model.open(ref.dir(), new CpuBackend(), q)) {
                    long planned = Footprint.of(model.config(), q).weights(false);
                    long loaded = model.transformer().weightBytes();
                    assertTrue(Math.abs(planned - loaded) <= loaded / 100, ref + " " + m + ": planned " + planned + ", loaded " + loaded);
                }
            }
        }
    }

    /** A bitsandbytes checkpoint loads as stored whatever the options ask, and is planned so. */
    @Test
    void storedCheckpointsArePlannedAsStored() {
        for (ParityModels.Reference ref : ParityModels.quantized()) {
            for (Method asked : Method.values()) {
                QuantizationOptions q = QuantizationOptions.of(asked);
                try (Model model = Model.open(ref.dir(), new CpuBackend(), q)) {
                    Footprint f = Footprint.of(model.config(), q);
                    long loaded = model.transformer().weightBytes();
                    assertEquals(ref.method(), f.quantization().method().cliName(), ref + " asked " + asked);
                    assertTrue(Math.abs(f.weights(false) - loaded) <= loaded / 100, ref + " asked " + asked + ": planned " + f.weights(false)
                            + ", loaded " + loaded);
                }
            }
        }
    }

    /** Random models, devices, budgets and strategies: every plan is sound; what plainly fits gets a plan. */
    @RepeatedTest(300)
    void plansAreSoundOrAnError() {
        SplittableRandom rnd = new SplittableRandom();
        int heads = 1 << rnd.nextInt(0, 7);
        int kvHeads = heads >> rnd.nextInt(0, Integer.numberOfTrailingZeros(heads) + 1);
        int headDim = 32 << rnd.nextInt(0, 3);
        ObjectNode json = ModelShapes.configJson("llama3-8b");
        json.put("num_hidden_layers", rnd.nextInt(1, 120));
        json.put("hidden_size", heads * headDim);
        json.put("num_attention_heads", heads);
        json.put("num_key_value_heads", Math.max(1, kvHeads));
        json.put("head_dim", headDim);
        json.put("intermediate_size", rnd.nextInt(1, 30000));
        json.put("vocab_size", rnd.nextInt(100, 200000));
        json.put("tie_word_embeddings", rnd.nextBoolean());
        ModelConfig c = parse(json);
        QuantizationOptions q = QuantizationOptions.of(Method.values()[rnd.nextInt(4)]);
        List<Device> devices = new ArrayList<>();
        int gpus = rnd.nextInt(0, 5);
        for (int i = 0; i < gpus; i++) {
            long b = rnd.nextLong(GIB / 4, 48 * GIB);
            devices.add(new Device(rnd.nextBoolean() ? Device.Kind.SIM : Device.Kind.CUDA, i, "gpu", b, b));
        }
        if (rnd.nextBoolean() || gpus == 0) {
            devices.add(cpu(rnd.nextLong(GIB / 4, 128 * GIB)));
        }
        if (rnd.nextInt(4) == 0) {
            devices.add(disk());
        }
        Planner.Strategy strategy = Planner.Strategy.values()[rnd.nextInt(3)];
        int batch = rnd.nextInt(1, 33);
        int context = rnd.nextInt(1, 8193);
        Footprint f = Footprint.of(c, q);
        Planner.Request request = new Planner.Request(f, devices, strategy, batch, context, 2, Map.of());
        Plan p;
        try {
            p = Planner.plan(request);
        } catch (ConvoyException e) {
            // an error only when the model does not plainly fit on one device
            for (Device d : devices) {
                long need = f.weights(d.kind() == Device.Kind.CUDA) + c.layers() * f.kvCachePerLayer(batch, context, d.gpu() ? 2 : 4)
                        + f.workspace(Math.max(batch, Math.min(Planner.PREFILL_CHUNK, context))) + f.logits(batch)
                        + Planner.overhead(d);
                assertTrue(d.kind() == Device.Kind.DISK || need > d.budget(), "refused although it fits on " + d + ": " + e.getMessage());
            }
            return;
        }
        int next = 0;
        int lastDevice = -1;
        for (Plan.Stage s : p.stages()) {
            assertEquals(next, s.firstLayer(), "stages are contiguous and in order");
            assertTrue(s.lastLayer() >= s.firstLayer());
            int deviceOrder = request.devices().indexOf(s.device());
            assertTrue(deviceOrder > lastDevice, "each device once, in pipeline order");
            lastDevice = deviceOrder;
            next = s.lastLayer() + 1;
        }
        assertEquals(c.layers(), next, "every layer placed once");
        for (Plan.Account a : p.accounts()) {
            assertTrue(a.total() <= a.device().budget(), a + " over budget " + a.device().budget());
        }
        long weights = p.accounts().stream().mapToLong(Plan.Account::weights).sum()
                + p.stages().stream().filter(s -> s.device().kind() == Device.Kind.DISK).mapToLong(Plan.Stage::weights).sum();
        // each piece as its device holds it: a CUDA GPU keeps float32 block scales, which for small matrices is less
        // than the double-quantized form elsewhere
        long placed = 0;
        for (Plan.Stage s : p.stages()) {
            placed += (long) (s.lastLayer() - s.firstLayer() + 1) * f.layerWeights(s.device().kind() == Device.Kind.CUDA);
        }
        if (p.embedDevice().kind() != Device.Kind.DISK) {
            placed += f.embedding();
        }
        if (p.headDevice().kind() != Device.Kind.DISK) {
            placed += f.head(p.embedDevice().equals(p.headDevice()), p.headDevice().kind() == Device.Kind.CUDA);
        }
        assertTrue(weights >= placed, "all weights are accounted: " + weights + " of " + placed);
        assertDoesNotThrow(() -> p.account(p.stages().getFirst().device()));
    }
    /** A stage's bytes at these limits, from the model's sizes as a user would add them up. */
    static long stageBytes(ModelConfig c, Plan.Stage stage, boolean head, int batch, int context, int rows) {
        long kvPerPosition = 2L * c.kvHeads() * c.headDim() * 2;
        long activationsPerRow = 4L * (3L * c.hiddenSize() + 2L * c.heads() * c.headDim() + 2L * c.kvHeads() * c.headDim()
                + 2L * c.intermediateSize());
        return stage.weights() + Planner.GPU_OVERHEAD + (long) stage.layerCount() * batch * context * kvPerPosition + rows * activationsPerRow
                + (head ? 4L * batch * c.vocabSize() : 0);
    }

    @Test
    void fitGivesTheLargestLimitsThatFitTheBytesThereAreNow() {
        ModelConfig c = shape("llama3-8b");
        Footprint model = Footprint.of(c, QuantizationOptions.of(Method.NF4));
        Plan plan = plan(c, model.quantization(), gpus(24 * GIB, 24 * GIB), Planner.Strategy.BALANCED, 32, 4096);
        Plan.Stage first = plan.stages().getFirst();
        Planner.Part part = new Planner.Part(first.device(), first.firstLayer(), first.lastLayer(), true, false);
        Planner.Fit planned = new Planner.Fit(32, 4096, Planner.stepRows(32, 4096));
        assertEquals(planned, Planner.fit(model, part, 2, planned, first.device().budget()), "the planned budget keeps the plan's limits");
        for (long bytes : new long[] {20 * GIB, 12 * GIB, 9 * GIB}) {
            Planner.Fit fit = Planner.fit(model, part, 2, planned, bytes);
            long need = stageBytes(c, first, false, fit.maxBatch(), fit.maxContext(), fit.stepRows()) + model.embedding();
            assertTrue(need <= bytes, fit + " fits " + bytes + ": needs " + need);
            assertTrue(fit.maxBatch() == planned.maxBatch() || stageBytes(c, first, false, fit.maxBatch() + 1, 4096, fit.maxBatch() + 1)
                    + model.embedding() > bytes, "one more sequence would not fit: " + fit);
            assertTrue(fit.stepRows() >= fit.maxBatch(), "a decode step of every sequence fits: " + fit);
        }
        Planner.Fit tight = Planner.fit(model, part, 2, planned, first.weights() + model.embedding() + Planner.GPU_OVERHEAD + (64L << 20));
        assertEquals(1, tight.maxBatch());
        assertTrue(tight.maxContext() < 4096 && tight.maxContext() > 0, "the context shrinks last: " + tight);
        assertEquals(null, Planner.fit(model, part, 2, planned, first.weights()), "the weights alone do not fit with the overhead");
    }
}
