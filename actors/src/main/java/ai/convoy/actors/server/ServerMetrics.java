package ai.convoy.actors.server;

import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.proto.JobEvent;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.function.ToDoubleFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's metrics (Prometheus text at {@code GET /metrics}) and its line per finished job: requests by API and
 * outcome, jobs held, waiting and live, prompt and generated tokens, time to first token, time between tokens, each
 * stage's busy fraction, and the out-of-memory re-plans.
 */
final class ServerMetrics {
    private static final Logger log = LoggerFactory.getLogger(ServerMetrics.class);

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Counter promptTokens;
    private final Counter generatedTokens;
    private final Timer firstToken;
    private final Timer betweenTokens;
    private final PipelineRuntime runtime;
    // what the pipeline's gauges read: taken at each scrape
    private volatile PipelineSnapshot now;

    ServerMetrics(PipelineRuntime runtime, Admission admission) {
        this.runtime = runtime;
        promptTokens = Counter.builder("convoy.prompt.tokens").description("Prompt tokens of accepted jobs").register(registry);
        generatedTokens = Counter.builder("convoy.generated.tokens").description("Tokens generated").register(registry);
        firstToken = Timer.builder("convoy.time.to.first.token").description("From a job's arrival to its first token")
                .publishPercentileHistogram().register(registry);
        betweenTokens = Timer.builder("convoy.inter.token.latency").description("Between a job's consecutive tokens")
                .publishPercentileHistogram().register(registry);
        Gauge.builder("convoy.jobs.held", admission, Admission::held).description("Jobs admitted and not ended, waiting or running")
                .register(registry);
        now = PipelineSnapshot.of(runtime);
        gauge("convoy.jobs.waiting", "Jobs waiting for a place in the batch", s -> s.load().waitingJobs());
        gauge("convoy.sequences.live", "Sequences being generated", s -> s.load().liveSequences());
        gauge("convoy.memory.replans", "Out-of-memory events that changed the limits", s -> s.limits().replans().size());
        FunctionCounter.builder("convoy.stage.restarts", this, m -> m.now.load().stageRestarts()).description("Stage restarts after a failure")
                .register(registry);
        FunctionCounter.builder("convoy.replacements", this, m -> m.now.load().replacements())
                .description("Placements of the model after a lost stage or a device with less memory").register(registry);
        FunctionCounter.builder("convoy.replayed.sequences", this, m -> m.now.load().replayedSequences())
                .description("Sequences replayed from their tokens after their caches were lost").register(registry);
        now.plannedBytes().forEach((device, bytes) -> {
            Gauge.builder("convoy.device.memory.planned", this, m -> m.now.plannedBytes().getOrDefault(device, -1L)).tag("device", device)
                    .baseUnit("bytes").description("Bytes the plan gives the device").register(registry);
            Gauge.builder("convoy.device.memory.used", this, m -> Math.max(0, m.now.heldBytes().getOrDefault(device, 0L))).tag("device", device)
                    .baseUnit("bytes").description("Bytes the device's stages hold now").register(registry);
        });
        for (int i = 0; i < now.stats().size(); i++) {
            int stage = i;
            Gauge.builder("convoy.stage.busy", this, m -> stage < m.now.stats().size() ? m.now.stats().get(stage).utilisation() : Double.NaN)
                    .tag("stage", now.stats().get(i).name()).description("Time a stage spent computing over its time alive").register(registry);
        }
    }

    private void gauge(String name, String description, ToDoubleFunction<PipelineSnapshot> value) {
        Gauge.builder(name, this, m -> value.applyAsDouble(m.now)).description(description).register(registry);
    }

    /** The Prometheus text exposition, the pipeline asked once for all its gauges. */
    synchronized String scrape() {
        now = PipelineSnapshot.of(runtime);
        return registry.scrape();
    }

    /** A request that never became a job: refused (queue full, draining) or invalid before it reached the pipeline. */
    void refused(String api, String outcome) {
        requests(api, outcome).increment();
    }

    private Counter requests(String api, String outcome) {
        return Counter.builder("convoy.requests").description("Requests by API and outcome").tag("api", api).tag("outcome", outcome)
                .register(registry);
    }

    /**
     * A job's events on their way to {@code downstream}, counted and timed; its end counted by outcome and logged in one
     * line.
     */
    Consumer<JobEvent> observe(String api, String jobId, Consumer<JobEvent> downstream) {
        long arrived = System.nanoTime();
        long[] last = {0};
        long[] first = {0};
        int[] tokens = {0};
        int[] prompt = {0};
        return event -> {
            long now = System.nanoTime();
            switch (event.getEventCase()) {
                case ACCEPTED -> {
                    prompt[0] = event.getAccepted().getPromptTokens();
                    promptTokens.increment(prompt[0]);
                }
                case TOKENS -> {
                    int n = event.getTokens().getIdsCount();
                    generatedTokens.increment(n);
                    if (tokens[0] == 0) {
                        first[0] = now;
                        firstToken.record(Duration.ofNanos(now - arrived));
                    } else {
                        betweenTokens.record(Duration.ofNanos(now - last[0]));
                    }
                    tokens[0] += n;
                    last[0] = now;
                }
                case DONE, FAILED -> {
                    String outcome = event.hasDone() ? event.getDone().getReason() == ai.convoy.proto.Done.Reason.CANCELLED ? "cancelled" : "completed"
                            : event.getFailed().getCode() == ai.convoy.proto.Failed.Code.INVALID_REQUEST ? "invalid" : "failed";
                    requests(api, outcome).increment();
                    double seconds = (now - arrived) / 1e9;
                    log.info("job {} ({}): {} prompt + {} generated tokens, first token after {} ms, {} tokens/s, {}", jobId, api, prompt[0],
                            tokens[0], tokens[0] == 0 ? "-" : String.format("%.1f", (first[0] - arrived) / 1e6),
                            String.format("%.1f", tokens[0] / Math.max(seconds, 1e-9)), event.hasDone() ? outcome : outcome + ": "
                                    + event.getFailed().getMessage());
                }
                default -> {
                }
            }
            downstream.accept(event);
        };
    }
}
