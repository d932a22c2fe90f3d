package ai.convoy.actors.server;

import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.proto.CancelJob;
import ai.convoy.proto.CancelReply;
import ai.convoy.proto.Failed;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.JobService;
import ai.convoy.proto.ListModelsRequest;
import ai.convoy.proto.ModelInfo;
import ai.convoy.proto.ModelList;
import ai.convoy.proto.ServerStatus;
import ai.convoy.proto.StageStatus;
import ai.convoy.proto.StatusRequest;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.model.ModelConfig;
import io.grpc.Status;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.NotUsed;
import org.apache.pekko.grpc.GrpcServiceException;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The job service over gRPC: each Submit is admitted (or refused at once), runs through the pipeline, and streams its
 * events; a call that ends early (cancelled by the client, past its deadline) cancels its job. Every admitted job is
 * released exactly once, on its terminal event, which the pipeline always sends.
 */
final class GrpcJobService implements JobService {
    /** Events a job's stream holds for a slow client beyond its tokens: accepted, prompt logits, the end. */
    private static final int EVENTS_BEYOND_TOKENS = 8;
    private static final String API = "grpc";

    /** A job being streamed; {@code ended}: its terminal event has been sent or it was ended by the server. */
    private record Stream(BoundedSourceQueue<JobEvent> events, AtomicBoolean ended) {
    }

    private final PipelineRuntime runtime;
    private final Admission admission;
    private final String modelId;
    private final ModelConfig config;
    private final ServerMetrics metrics;
    private final boolean hasTokenizer;
    private final ChatJobs chatJobs;
    private final Map<String, Stream> streams = new ConcurrentHashMap<>();

    GrpcJobService(PipelineRuntime runtime, Admission admission, ServerMetrics metrics, String modelId, ModelConfig config,
                   boolean hasTokenizer, ChatJobs chatJobs) {
        this.hasTokenizer = hasTokenizer;
        this.chatJobs = chatJobs;
        this.runtime = runtime;
        this.admission = admission;
        this.metrics = metrics;
        this.modelId = modelId;
        this.config = config;
    }

    private static GrpcServiceException status(Status status, String message) {
        return new GrpcServiceException(status.withDescription(message));
    }

    @Override
    public Source<JobEvent, NotUsed> submit(JobRequest in) {
        if (!in.getModel().isEmpty() && !in.getModel().equals(modelId)) {
            metrics.refused(API, "invalid");
            return Source.failed(status(Status.INVALID_ARGUMENT, "unknown model " + in.getModel() + ": this server serves " + modelId));
        }
        JobRequest request;
        try {
            request = chatJobs.resolve(in.getJobId().isEmpty() ? in.toBuilder().setJobId(UUID.randomUUID().toString()).build() : in);
        } catch (ConvoyException e) {
            metrics.refused(API, "invalid");
            return Source.failed(status(Status.INVALID_ARGUMENT, e.getMessage()));
        }
        String id = request.getJobId();
        switch (admission.admit()) {
            case FULL -> {
                metrics.refused(API, "queue_full");
                return Source.failed(status(Status.RESOURCE_EXHAUSTED, "the server holds " + admission.maxJobs()
                        + " jobs, its --max-queue: try again later"));
            }
            case DRAINING -> {
                metrics.refused(API, "draining");
                return Source.failed(status(Status.UNAVAILABLE, "the server is shutting down"));
            }
            case ADMITTED -> {
            }
        }
        int capacity = Math.min(config.maxPositions(), request.getSampling().hasMaxNewTokens() ? request.getSampling().getMaxNewTokens()
                : config.maxPositions()) + EVENTS_BEYOND_TOKENS;
        Pair<BoundedSourceQueue<JobEvent>, Source<JobEvent, NotUsed>> queued = Source.<JobEvent>queue(Math.max(EVENTS_BEYOND_TOKENS, capacity))
                .preMaterialize(runtime.system());
        Stream stream = new Stream(queued.first(), new AtomicBoolean());
        if (streams.putIfAbsent(id, stream) != null) {
            admission.release();
            metrics.refused(API, "invalid");
            return Source.failed(status(Status.INVALID_ARGUMENT, "a job with id " + id + " is already running"));
        }
        runtime.submit(request, metrics.observe(API, id, event -> forward(id, stream, event)));
        return queued.second().watchTermination((mat, done) -> {
            // the client went away or its deadline passed before the end: the job stops and frees its cache
            done.whenComplete((d, failure) -> {
                if (stream.ended().compareAndSet(false, true)) {
                    runtime.cancel(id);
                }
            });
            return NotUsed.getInstance();
        });
    }

    private void forward(String id, Stream stream, JobEvent event) {
        boolean last = event.hasDone() || event.hasFailed();
        if (last) {
            streams.remove(id, stream);
            admission.release();
        }
        if (stream.ended().get()) {
            // the server ended it already (a drain past its timeout)
            return;
        }
        stream.ended().set(last);
        try {
            if (event.hasFailed() && event.getFailed().getCode() == Failed.Code.INVALID_REQUEST) {
                stream.events().fail(status(Status.INVALID_ARGUMENT, event.getFailed().getMessage()));
                return;
            }
            if (event.hasFailed() && event.getFailed().getCode() == Failed.Code.UNAVAILABLE) {
                stream.events().fail(status(Status.UNAVAILABLE, event.getFailed().getMessage()));
                return;
            }
            stream.events().offer(event);
            if (last) {
                stream.events().complete();
            }
        } catch (IllegalStateException clientLeft) {
            // the client cancelled between the check above and here: its stream is closed already, the job cancelled
        }
    }

    /** Ends every job still streaming with the reason; their pipeline jobs are cancelled. */
    void endAll(String reason) {
        for (Map.Entry<String, Stream> e : streams.entrySet()) {
            if (e.getValue().ended().compareAndSet(false, true)) {
                e.getValue().events().offer(JobEvent.newBuilder().setJobId(e.getKey())
                        .setFailed(Failed.newBuilder().setCode(Failed.Code.INTERNAL).setMessage(reason)).build());
                e.getValue().events().complete();
                runtime.cancel(e.getKey());
            }
        }
    }

    @Override
    public CompletionStage<CancelReply> cancel(CancelJob in) {
        boolean found = streams.containsKey(in.getJobId());
        runtime.cancel(in.getJobId());
        return CompletableFuture.completedFuture(CancelReply.newBuilder().setFound(found).build());
    }

    @Override
    public CompletionStage<ServerStatus> getStatus(StatusRequest in) {
        return CompletableFuture.supplyAsync(() -> {
            PipelineSnapshot now = PipelineSnapshot.of(runtime);
            ServerStatus.Builder status = ServerStatus.newBuilder().setJobs(admission.held()).setQueued(now.load().waitingJobs())
                    .setLiveSequences(now.load().liveSequences()).setMaxQueue(admission.maxJobs()).setPlan(now.placement());
            for (int i = 0; i < now.stats().size(); i++) {
                status.addStages(StageStatus.newBuilder().setName(now.stats().get(i).name()).setDevice(now.deviceOf(i))
                        .setBusyFraction(now.stats().get(i).utilisation()));
            }
            now.heldBytes().forEach((device, bytes) -> status.addDevices(ai.convoy.proto.DeviceMemory.newBuilder().setDevice(device)
                    .setPlannedBytes(now.plannedBytes().getOrDefault(device, -1L)).setUsedBytes(bytes)));
            return status.build();
        });
    }

    @Override
    public CompletionStage<ModelList> listModels(ListModelsRequest in) {
        return CompletableFuture.completedFuture(ModelList.newBuilder().addModels(ModelInfo.newBuilder().setId(modelId)
                .setContext(config.maxPositions()).setVocabSize(config.vocabSize()).setHasTokenizer(hasTokenizer)).build());
    }
}
