package ai.convoy.actors.server;

import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.proto.JobServiceHandlerFactory;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.tokenizer.ChatPrompt;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthHandlerFactory;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.NotUsed;
import org.apache.pekko.grpc.javadsl.ServiceHandler;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.japi.function.Function;
import org.apache.pekko.stream.javadsl.Source;

/**
 * Serves a loaded pipeline over gRPC (the job service and the standard health service) and the OpenAI-style HTTP API,
 * both admitting into one bounded set of jobs, and drains
 * it on shutdown: no new jobs, running ones finish within the drain timeout, the rest end with the reason.
 */
public final class JobServer implements AutoCloseable {
    /**
     * @param maxJobs      jobs held at once, waiting or running (--max-queue), over both APIs
     * @param chat         the model's chat template with its tokenizer, for chat jobs over both APIs
     * @param token        the token every call must carry, or null: none needed
     * @param hasTokenizer whether the model has a tokenizer: prompts may be text
     * @param tls          both ports serve TLS with it, or null: plain text
     */
    public record Settings(String bind, int grpcPort, int httpPort, int maxJobs, String modelId, ModelConfig config,
                           Optional<ChatPrompt> chat, BearerToken token, boolean hasTokenizer, javax.net.ssl.SSLContext tls) {
    }

    private final Admission admission;
    private final GrpcJobService jobs;
    private final ServerBinding grpc;
    private final ServerBinding http;
    private volatile HealthCheckResponse.ServingStatus health = HealthCheckResponse.ServingStatus.SERVING;

    private JobServer(PipelineRuntime runtime, Settings settings) {
        this.admission = new Admission(settings.maxJobs());
        ServerMetrics metrics = new ServerMetrics(runtime, admission);
        ChatJobs chatJobs = new ChatJobs(settings.chat(), settings.modelId());
        this.jobs = new GrpcJobService(runtime, admission, metrics, settings.modelId(), settings.config(), settings.hasTokenizer(), chatJobs);
        BearerToken token = settings.token();
        Function<HttpRequest, CompletionStage<HttpResponse>> grpcCalls = ServiceHandler.concatOrNotFound(
                JobServiceHandlerFactory.partial(jobs, ai.convoy.proto.JobService.name, runtime.system()),
                HealthHandlerFactory.partial(new Health(), io.grpc.health.v1.Health.name, runtime.system()));
        this.grpc = bind(runtime, settings, settings.grpcPort(), "gRPC", token == null ? grpcCalls : token.guardGrpc(grpcCalls, runtime.system()));
        OpenAiHttp openAi = new OpenAiHttp(runtime, admission, metrics, settings.modelId(), settings.config(), chatJobs);
        Function<HttpRequest, CompletionStage<HttpResponse>> httpCalls = request -> request.getUri().path().equals("/metrics")
                ? CompletableFuture.supplyAsync(() -> HttpResponse.create().withEntity(
                        org.apache.pekko.http.javadsl.model.ContentTypes.TEXT_PLAIN_UTF8, metrics.scrape()))
                : openAi.handle(request);
        try {
            this.http = bind(runtime, settings, settings.httpPort(), "HTTP", token == null ? httpCalls : token.guardHttp(httpCalls));
        } catch (ConvoyException e) {
            grpc.unbind();
            throw e;
        }
    }

    private static ServerBinding bind(PipelineRuntime runtime, Settings settings, int port, String what,
                                      Function<HttpRequest, CompletionStage<HttpResponse>> handler) {
        String address = settings.bind();
        try {
            var server = Http.get(runtime.system()).newServerAt(address, port);
            if (settings.tls() != null) {
                server = server.enableHttps(org.apache.pekko.http.javadsl.ConnectionContext.httpsServer(settings.tls()));
            }
            return server.bind(handler).toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            Throwable cause = e instanceof java.util.concurrent.ExecutionException || e instanceof CompletionException ? e.getCause() : e;
            throw new ConvoyException("cannot serve " + what + " on " + address + ":" + port + ": " + cause.getMessage());
        }
    }

    public static JobServer start(PipelineRuntime runtime, Settings settings) {
        return new JobServer(runtime, settings);
    }

    /** The port gRPC is served on (the one the system chose for port 0). */
    public int grpcPort() {
        return grpc.localAddress().getPort();
    }

    /** The port the OpenAI-style HTTP API is served on. */
    public int httpPort() {
        return http.localAddress().getPort();
    }

    /**
     * Stops admitting, lets the jobs held finish within {@code timeout}, ends the rest with the reason; returns how
     * many were ended so.
     */
    public int drain(Duration timeout) throws InterruptedException {
        health = HealthCheckResponse.ServingStatus.NOT_SERVING;
        if (admission.drain(timeout.toMillis())) {
            return 0;
        }
        int left = admission.held();
        jobs.endAll("the server shut down before the job ended (it waited " + timeout.toSeconds() + " s, --drain-timeout)");
        admission.drain(Duration.ofSeconds(5).toMillis());
        return left;
    }

    @Override
    public void close() {
        grpc.unbind().toCompletableFuture().join();
        http.unbind().toCompletableFuture().join();
    }

    /** grpc.health.v1: SERVING while jobs are admitted, NOT_SERVING once the server drains. */
    private final class Health implements io.grpc.health.v1.Health {
        @Override
        public CompletionStage<HealthCheckResponse> check(HealthCheckRequest in) {
            return CompletableFuture.completedFuture(HealthCheckResponse.newBuilder().setStatus(health).build());
        }

        @Override
        public Source<HealthCheckResponse, NotUsed> watch(HealthCheckRequest in) {
            return Source.single(HealthCheckResponse.newBuilder().setStatus(health).build());
        }
    }
}
