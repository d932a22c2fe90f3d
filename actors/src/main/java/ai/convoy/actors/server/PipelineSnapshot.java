package ai.convoy.actors.server;

import ai.convoy.actors.pipeline.Coordinator;
import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.actors.pipeline.StageActor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The pipeline as a status call or a metrics scrape reports it, asked of its actors once: load, limits, each stage's
 * place and statistics, and what the plan gives each device.
 */
record PipelineSnapshot(Coordinator.Load load, Coordinator.Limits limits, String placement, List<PipelineRuntime.StageSpec> specs,
                        List<StageActor.StageStats> stats, Map<String, Long> plannedBytes) {

    static PipelineSnapshot of(PipelineRuntime runtime) {
        PipelineRuntime.Layout layout = runtime.layout();
        return new PipelineSnapshot(runtime.load(), runtime.limits(), layout.placement(), layout.stages(), runtime.stats(), layout.plannedBytes());
    }

    /** The device of stage {@code i}; "" when the stages changed between the two questions. */
    String deviceOf(int stage) {
        return stage < specs.size() ? specs.get(stage).device().id() : "";
    }

    /** Bytes each device holds now, by device id: the sum of its stages' (each has a backend of its own); -1 where not counted. */
    Map<String, Long> heldBytes() {
        Map<String, Long> held = new LinkedHashMap<>();
        for (int i = 0; i < stats.size(); i++) {
            held.merge(deviceOf(i), stats.get(i).heldBytes(), (a, b) -> a < 0 || b < 0 ? -1 : a + b);
        }
        return held;
    }
}
