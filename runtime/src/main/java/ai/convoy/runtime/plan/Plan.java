package ai.convoy.runtime.plan;

import java.util.List;

/**
 * Where everything goes: stages of contiguous layers in pipeline order, where the embeddings and lm_head are, and
 * each device's account.
 */
public record Plan(List<Stage> stages, Device embedDevice, Device headDevice, List<Account> accounts, int layers) {

    /** Layers {@code firstLayer..lastLayer} (inclusive) on one device, with the bytes they bring. */
    public record Stage(Device device, int firstLayer, int lastLayer, long weights, long kvCache) {
        public int layerCount() {
            return lastLayer - firstLayer + 1;
        }
    }

    /**
     * One device's memory: weights (its layers, plus the embeddings or lm_head when it holds them), KV cache,
     * activation workspace and runtime overhead. For the CPU this includes the KV cache and activations of layers
     * offloaded to disk.
     */
    public record Account(Device device, long weights, long kvCache, long workspace, long overhead) {
        public long total() {
            return weights + kvCache + workspace + overhead;
        }

        public long margin() {
            return device.budget() - total();
        }
    }

    public Account account(Device d) {
        return accounts.stream().filter(a -> a.device().equals(d)).findFirst().orElseThrow();
    }

    /** Where the pipeline crosses from one cluster member to the next: after layer {@code afterLayer}. */
    public record MemberBoundary(String from, String to, int afterLayer) {
    }

    /** The boundaries between cluster members, in pipeline order; none when the plan is one process's. */
    public List<MemberBoundary> memberBoundaries() {
        List<MemberBoundary> out = new java.util.ArrayList<>();
        for (int i = 1; i < stages.size(); i++) {
            String from = stages.get(i - 1).device().member();
            String to = stages.get(i).device().member();
            if (!from.equals(to)) {
                out.add(new MemberBoundary(from, to, stages.get(i - 1).lastLayer()));
            }
        }
        return out;
    }

    public int layersOn(Device.Kind kind) {
        return stages.stream().filter(s -> s.device().kind() == kind).mapToInt(Stage::layerCount).sum();
    }
}
