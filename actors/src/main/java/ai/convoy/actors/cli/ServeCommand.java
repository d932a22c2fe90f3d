package ai.convoy.actors.cli;

import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.actors.server.BearerToken;
import ai.convoy.actors.server.JobServer;
import ai.convoy.actors.server.TlsFiles;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.actors.cluster.ClusterConfig;
import ai.convoy.runtime.tokenizer.ChatPrompt;
import ai.convoy.runtime.tokenizer.ChatTemplate;
import ai.convoy.runtime.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Loads a model through the plan and serves jobs over gRPC and an OpenAI-style HTTP API until SIGTERM or SIGINT, then drains.")
final class ServeCommand implements Callable<Integer> {
    /** The model id of the small model built into Convoy. */
    static final String DEFAULT_MODEL_ID = "convoy-default";

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    PlanOptions planOptions;

    @Mixin
    LoadQuantization quantization;

    @Option(names = "--bind", paramLabel = "ADDRESS",
            description = "Address to listen on (default: ${DEFAULT-VALUE}; 127.0.0.1 is this machine only).")
    String bind;

    @Option(names = "--grpc-port", paramLabel = "PORT", description = "gRPC port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int grpcPort;

    @Option(names = "--http-port", paramLabel = "PORT",
            description = "Port of the OpenAI-style HTTP API; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int httpPort;

    @Option(names = "--max-queue", paramLabel = "N",
            description = "Jobs held at once, waiting or running; beyond, a job is refused at once (default: ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--tls-cert", paramLabel = "FILE", description = "PEM certificate chain: both ports serve TLS (with --tls-key).")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE", description = "PEM (PKCS#8) private key of --tls-cert.")
    Path tlsKey;

    @Option(names = "--config", paramLabel = "FILE",
            description = "A HOCON file of defaults for these options under convoy.serve, over configs/convoy.conf; the command line overrides it.")
    Path config;

    @Option(names = "--auth-token-file", paramLabel = "FILE",
            description = "A file whose first line is a token every call must carry (gRPC metadata or HTTP header authorization: Bearer TOKEN).")
    Path authTokenFile;

    @Mixin
    ClusterOptions cluster;

    @Option(names = "--join-timeout", paramLabel = "SECONDS", defaultValue = "120",
            description = "With --cluster-config: how long the model's first placement waits for every member to join before it places "
                    + "over those that did (default: ${DEFAULT-VALUE}).")
    int joinTimeout;

    @Option(names = "--rejoin-timeout", paramLabel = "SECONDS", defaultValue = "0",
            description = "With --cluster-config: how long to wait for a member that held stages and left to return before placing the model "
                    + "over the members left; its jobs pause meanwhile (default: ${DEFAULT-VALUE}: place again at once).")
    int rejoinTimeout;

    /** How long past --join-timeout serving waits for the placement's stages to start. */
    private static final int PLACEMENT_GRACE_SECONDS = 60;

    @Option(names = "--drain-timeout", paramLabel = "SECONDS",
            description = "On SIGTERM or SIGINT, how long running jobs may take to finish before they are ended (default: ${DEFAULT-VALUE}).")
    int drainTimeout;

    @Override
    public Integer call() throws InterruptedException {
        if (grpcPort < 0 || grpcPort > 65535) {
            throw new ConvoyException("--grpc-port must be between 0 and 65535, got " + grpcPort);
        }
        if (httpPort < 0 || httpPort > 65535) {
            throw new ConvoyException("--http-port must be between 0 and 65535, got " + httpPort);
        }
        if (maxQueue < 1) {
            throw new ConvoyException("--max-queue must be at least 1, got " + maxQueue);
        }
        if (drainTimeout < 0) {
            throw new ConvoyException("--drain-timeout must be 0 or more seconds, got " + drainTimeout);
        }
        if (rejoinTimeout < 0) {
            throw new ConvoyException("--rejoin-timeout must be 0 or more seconds, got " + rejoinTimeout);
        }
        // a token or TLS files that cannot be read are refused before the model loads
        BearerToken token = authTokenFile == null ? null : BearerToken.read(authTokenFile);
        if ((tlsCert == null) != (tlsKey == null)) {
            throw new ConvoyException("--tls-cert and --tls-key go together: give both, or neither for plain text");
        }
        javax.net.ssl.SSLContext tls = tlsCert == null ? null : TlsFiles.serverContext(tlsCert, tlsKey);
        PrintWriter err = spec.commandLine().getErr();
        QuantizationOptions options = quantization.options();
        Path dir = modelOptions.directory();
        ModelConfig config = Model.readConfig(dir);
        Planner.Request request = planOptions.request(config, options, dir);
        String modelId = modelOptions.usesEmbeddedDefault() ? DEFAULT_MODEL_ID : dir.toAbsolutePath().normalize().getFileName().toString();
        CountDownLatch stop = StopSignals.latch();
        try (PipelineRuntime runtime = cluster.given() ? startOnCluster(dir, request, options, err) : startHere(dir, request, options, err);
             JobServer server = JobServer.start(runtime, new JobServer.Settings(bind, grpcPort, httpPort, maxQueue, modelId,
                     config.withMaxPositions(request.maxContext()), chatPrompt(dir, config), token, Tokenizer.existsIn(dir), tls))) {
            err.printf("convoy: serving %s over gRPC on %s:%d and HTTP on %s:%d (%sat most %d jobs held); SIGTERM or SIGINT drains and stops%n",
                    modelId, bind, server.grpcPort(), bind, server.httpPort(), tls != null ? "TLS; " : "", maxQueue);
            err.flush();
            stop.await();
            err.printf("convoy: draining: no new jobs; running ones have %d s to finish%n", drainTimeout);
            err.flush();
            int ended = server.drain(Duration.ofSeconds(drainTimeout));
            err.printf("convoy: stopped%s%n", ended == 0 ? "; every job finished" : "; " + ended + " jobs ended unfinished at the drain timeout");
            err.flush();
        }
        return 0;
    }

    /** The model's chat template with its tokenizer and stop ids, when it has both. */
    static Optional<ChatPrompt> chatPrompt(Path dir, ModelConfig config) {
        Optional<ChatTemplate> template = ChatTemplate.load(dir);
        if (template.isEmpty() || !Tokenizer.existsIn(dir)) {
            return Optional.empty();
        }
        return Optional.of(ChatPrompt.of(template.get(), Tokenizer.load(dir), Model.eosTokenIds(dir, config)));
    }

    private PipelineRuntime startHere(Path dir, Planner.Request request, QuantizationOptions options, PrintWriter err) {
        Plan plan = Planner.plan(request);
        PipelineRuntime.requireDevicesHere(plan);
        PlanPrinter.print(err, plan, request, planOptions.kvDtype);
        return PipelineRuntime.start(dir, request, options, s -> PipelineRuntime.backendFor(s.device(), request.kvBytesGpu()));
    }

    /** This process joins the cluster as its coordinator; the model is placed once every member has joined. */
    private PipelineRuntime startOnCluster(Path dir, Planner.Request request, QuantizationOptions options, PrintWriter err)
            throws InterruptedException {
        ClusterConfig clustered = cluster.load();
        Planner.Request here = request.withDevices(cluster.devices(clustered, planOptions.deviceOptions, dir));
        ClusterConfig.Member me = clustered.member(cluster.member);
        PipelineRuntime runtime = PipelineRuntime.startCluster(dir, here, options, cluster.member,
                clustered.members().stream().map(ClusterConfig.Member::name).toList(), java.time.Duration.ofSeconds(joinTimeout),
                java.time.Duration.ofSeconds(rejoinTimeout), clustered.pekko(cluster.member));
        err.printf("convoy: %s joined the cluster of %s at %s:%d; the coordinator runs on its oldest convoy serve member%n", cluster.member,
                clustered.source(), me.host(), me.port());
        err.flush();
        boolean placed;
        try {
            // past the join wait the coordinator places over the members that joined, and their stages take time to start
            placed = runtime.awaitPlacement(java.time.Duration.ofSeconds(joinTimeout + PLACEMENT_GRACE_SECONDS), line -> {
                err.println("convoy: " + line);
                err.flush();
            });
        } catch (InterruptedException | RuntimeException e) {
            runtime.close();
            throw e;
        }
        if (!placed) {
            runtime.close();
            throw new ConvoyException("the model was not placed within " + (joinTimeout + PLACEMENT_GRACE_SECONDS) + " s (--join-timeout "
                    + joinTimeout + " s): too few members joined for it, or their stages did not start");
        }
        err.printf("convoy: placed over the cluster: %s%n", runtime.placement());
        PlanPrinter.print(err, runtime.plan(), request, planOptions.kvDtype);
        err.flush();
        return runtime;
    }
}
