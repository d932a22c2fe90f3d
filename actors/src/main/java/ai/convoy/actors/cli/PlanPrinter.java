package ai.convoy.actors.cli;

import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Footprint;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A plan as a table, for convoy plan and for convoy run before it starts. */
final class PlanPrinter {
    private PlanPrinter() {
    }

    /** A stage's row: its layers' bytes, plus the device's embeddings/lm_head, workspace and overhead on its first stage. */
    record Row(Plan.Stage stage, long weights, long kvCache, long workspace, long overhead) {
        long total() {
            return weights + kvCache + workspace + overhead;
        }
    }

    static List<Row> rows(Plan plan) {
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

    static void print(PrintWriter out, Plan plan, Planner.Request request, String kvDtype) {
        Footprint f = request.model();
        out.printf("plan: %s, %d layers, weights %s, batch %d x context %d, KV cache %s, strategy %s%n", f.config().architecture().className(),
                plan.layers(), f.quantization().describe(), request.maxBatch(), request.maxContext(), kvDtype,
                request.strategy().name().toLowerCase());
        String device = "%-" + Math.max(8, plan.stages().stream().mapToInt(st -> st.device().id().length()).max().orElse(8)) + "s";
        out.printf("%-6s " + device + " %-9s %11s %11s %11s %11s %11s %11s%n", "stage", "device", "layers", "weights", "KV cache", "workspace",
                "overhead", "total", "budget");
        int i = 0;
        for (Row r : rows(plan)) {
            Device d = r.stage().device();
            out.printf("%-6d " + device + " %-9s %11s %11s %11s %11s %11s %11s%n", i++, d.id(), r.stage().firstLayer() + "-" + r.stage().lastLayer(),
                    Units.bytes(r.weights()), Units.bytes(r.kvCache()), Units.bytes(r.workspace()), Units.bytes(r.overhead()),
                    Units.bytes(r.total()), d.kind() == Device.Kind.DISK ? "-" : Units.bytes(d.budget()));
        }
        out.printf("embeddings on %s; final norm and lm_head on %s%n", plan.embedDevice().id(), plan.headDevice().id());
        for (Plan.MemberBoundary b : plan.memberBoundaries()) {
            out.printf("%s -> %s after layer %d: %s a token crosses the network%n", b.from(), b.to(), b.afterLayer(),
                    Units.bytes(Planner.hopBytesPerToken(f.config())));
        }
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
