package ai.convoy.actors.server;

import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.proto.Chat;
import ai.convoy.proto.ChatMessage;
import ai.convoy.proto.Done;
import ai.convoy.proto.Failed;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.SamplingParams;
import ai.convoy.proto.TokenIds;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.model.ModelConfig;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpMethods;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * The OpenAI-style HTTP API over the pipeline: {@code GET /v1/models}, {@code POST /v1/completions} and
 * {@code POST /v1/chat/completions} (rendered with the model's chat template), whole or streamed as server-sent events
 * in OpenAI's chunk format ending with {@code [DONE]}; errors in OpenAI's JSON shape with its status codes.
 */
final class OpenAiHttp {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long BODY_TIMEOUT_MILLIS = 10_000;
    /** OpenAI's default for completions. */
    private static final int DEFAULT_COMPLETION_TOKENS = 16;
    private static final int MAX_STOP_STRINGS = 4;
    private static final String API = "http";

    private final PipelineRuntime runtime;
    private final Admission admission;
    private final String modelId;
    private final ModelConfig config;
    private final ChatJobs chatJobs;
    private final ServerMetrics metrics;

    OpenAiHttp(PipelineRuntime runtime, Admission admission, ServerMetrics metrics, String modelId, ModelConfig config, ChatJobs chatJobs) {
        this.chatJobs = chatJobs;
        this.runtime = runtime;
        this.admission = admission;
        this.metrics = metrics;
        this.modelId = modelId;
        this.config = config;
    }

    /** A request the API refuses: its status, OpenAI's error type and code, and one line saying what is wrong. */
    static final class ApiError extends RuntimeException {
        final StatusCode status;
        final String type;
        final String code;

        ApiError(StatusCode status, String type, String code, String message) {
            super(message);
            this.status = status;
            this.type = type;
            this.code = code;
        }

        static ApiError invalid(String message) {
            return new ApiError(StatusCodes.BAD_REQUEST, "invalid_request_error", null, message);
        }
    }

    static HttpResponse error(ApiError e) {
        return json(e.status, errorJson(e));
    }

    private static HttpResponse json(StatusCode status, JsonNode body) {
        return HttpResponse.create().withStatus(status).withEntity(ContentTypes.APPLICATION_JSON, body.toString());
    }

    CompletionStage<HttpResponse> handle(HttpRequest request) {
        String path = request.getUri().path();
        boolean post = request.method().equals(HttpMethods.POST);
        if (path.equals("/v1/models") && request.method().equals(HttpMethods.GET)) {
            ObjectNode body = JSON.createObjectNode().put("object", "list");
            body.putArray("data").addObject().put("id", modelId).put("object", "model").put("created", 0).put("owned_by", "convoy");
            return CompletableFuture.completedFuture(json(StatusCodes.OK, body));
        }
        boolean chat = path.equals("/v1/chat/completions");
        if (!post || !(chat || path.equals("/v1/completions"))) {
            return CompletableFuture.completedFuture(error(new ApiError(StatusCodes.NOT_FOUND, "invalid_request_error", "unknown_url",
                    "no route " + request.method().value() + " " + path + ": this server has GET /v1/models, POST /v1/completions and "
                            + "POST /v1/chat/completions")));
        }
        return request.entity().toStrict(BODY_TIMEOUT_MILLIS, runtime.system()).thenCompose(strict -> {
            try {
                return complete(parse(strict.getData().utf8String()), chat);
            } catch (ApiError e) {
                metrics.refused(API, e.status.intValue() == 429 ? "queue_full" : e.status.intValue() == 503 ? "draining" : "invalid");
                return CompletableFuture.completedFuture(error(e));
            }
        });
    }

    private static JsonNode parse(String body) {
        try {
            JsonNode node = JSON.readTree(body);
            if (node == null || !node.isObject()) {
                throw ApiError.invalid("the body must be a JSON object");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw ApiError.invalid("the body is not JSON: " + e.getOriginalMessage());
        }
    }

    /** The job a completion request asks for; its sampling checked by the runtime, the rest here. */
    private JobRequest job(JsonNode body, boolean chat) {
        if (body.hasNonNull("model") && !body.get("model").asText().equals(modelId)) {
            throw new ApiError(StatusCodes.NOT_FOUND, "invalid_request_error", "model_not_found",
                    "the model '" + body.get("model").asText() + "' does not exist: this server serves '" + modelId + "'");
        }
        if (body.hasNonNull("n") && body.get("n").asInt(-1) != 1) {
            throw ApiError.invalid("n must be 1: one choice per request");
        }
        JobRequest.Builder job = JobRequest.newBuilder().setJobId((chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID());
        if (chat) {
            job.setChat(messages(body.get("messages")));
        } else {
            prompt(body.get("prompt"), job);
        }
        SamplingParams.Builder sampling = SamplingParams.newBuilder()
                .setTemperature((float) number(body, "temperature", 1))
                .setTopP((float) number(body, "top_p", 1));
        String tokensField = chat && body.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        if (body.hasNonNull(tokensField)) {
            sampling.setMaxNewTokens(integer(body, tokensField));
        } else {
            sampling.setMaxNewTokens(chat ? config.maxPositions() : DEFAULT_COMPLETION_TOKENS);
        }
        if (body.hasNonNull("seed")) {
            if (!body.get("seed").isIntegralNumber() || !body.get("seed").canConvertToLong()) {
                throw ApiError.invalid("seed must be a whole number, got " + body.get("seed"));
            }
            sampling.setSeed(body.get("seed").asLong());
        }
        JsonNode stopIds = body.get("stop_token_ids");
        if (stopIds != null && !stopIds.isNull()) {
            if (!stopIds.isArray()) {
                throw ApiError.invalid("stop_token_ids must be an array of token ids");
            }
            stopIds.forEach(id -> {
                if (!id.isIntegralNumber() || !id.canConvertToInt()) {
                    throw ApiError.invalid("stop_token_ids must be an array of token ids, got " + id);
                }
                sampling.addStopTokenIds(id.asInt());
            });
        }
        job.setSampling(sampling);
        try {
            return chatJobs.resolve(job.build());
        } catch (ConvoyException e) {
            throw ApiError.invalid(e.getMessage());
        }
    }

    private void prompt(JsonNode prompt, JobRequest.Builder job) {
        if (prompt == null || prompt.isNull()) {
            throw ApiError.invalid("prompt is required: a string, or an array of token ids");
        }
        if (prompt.isTextual()) {
            job.setText(prompt.asText());
            return;
        }
        if (prompt.isArray() && prompt.size() == 1 && prompt.get(0).isTextual()) {
            job.setText(prompt.get(0).asText());
            return;
        }
        if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isIntegralNumber()) {
            TokenIds.Builder ids = TokenIds.newBuilder();
            prompt.forEach(id -> {
                if (!id.isIntegralNumber() || !id.canConvertToInt()) {
                    throw ApiError.invalid("prompt: an array of token ids holds only integers, got " + id);
                }
                ids.addIds(id.asInt());
            });
            job.setTokenIds(ids);
            return;
        }
        throw ApiError.invalid("prompt must be a string, or an array of token ids (one prompt per request)");
    }

    private static Chat messages(JsonNode messages) {
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ApiError.invalid("messages is required: an array of {role, content}");
        }
        Chat.Builder chat = Chat.newBuilder();
        for (JsonNode m : messages) {
            if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
                throw ApiError.invalid("each message needs a role and a content, both strings: " + m);
            }
            chat.addMessages(ChatMessage.newBuilder().setRole(m.get("role").asText()).setContent(m.get("content").asText()));
        }
        return chat.build();
    }

    private static double number(JsonNode body, String field, double otherwise) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return otherwise;
        }
        if (!v.isNumber()) {
            throw ApiError.invalid(field + " must be a number, got " + v);
        }
        return v.asDouble();
    }

    private static int integer(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 1) {
            throw ApiError.invalid(field + " must be a whole number of at least 1, got " + v);
        }
        return v.asInt();
    }

    private static List<String> stops(JsonNode body) {
        JsonNode stop = body.get("stop");
        if (stop == null || stop.isNull()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (stop.isTextual()) {
            out.add(stop.asText());
        } else if (stop.isArray() && stop.size() <= MAX_STOP_STRINGS) {
            stop.forEach(s -> {
                if (!s.isTextual()) {
                    throw ApiError.invalid("stop must be a string or an array of up to 4 strings, got " + s);
                }
                out.add(s.asText());
            });
        } else {
            throw ApiError.invalid("stop must be a string or an array of up to 4 strings");
        }
        return out;
    }

    private CompletionStage<HttpResponse> complete(JsonNode body, boolean chat) {
        JobRequest job = job(body, chat);
        StopStrings stops = new StopStrings(stops(body));
        switch (admission.admit()) {
            case FULL -> throw new ApiError(StatusCodes.TOO_MANY_REQUESTS, "rate_limit_exceeded", "queue_full", "the server holds "
                    + admission.maxJobs() + " jobs, its --max-queue: try again later");
            case DRAINING -> throw new ApiError(StatusCodes.SERVICE_UNAVAILABLE, "server_error", null, "the server is shutting down");
            case ADMITTED -> {
            }
        }
        Completion completion = new Completion(job.getJobId(), chat, stops);
        if (body.path("stream").asBoolean(false)) {
            return stream(job, completion);
        }
        CompletableFuture<HttpResponse> whole = new CompletableFuture<>();
        runtime.submit(job, metrics.observe(API, job.getJobId(), event -> {
            if (finish(job, completion, event)) {
                whole.complete(completion.failure != null ? error(completion.failure) : json(StatusCodes.OK, completion.whole()));
            }
        }));
        return whole;
    }

    /** Takes an event into the completion; true on the job's last one, which releases its admission. */
    private boolean finish(JobRequest job, Completion completion, JobEvent event) {
        switch (event.getEventCase()) {
            case ACCEPTED -> completion.promptTokens = event.getAccepted().getPromptTokens();
            case TOKENS -> {
                String out = completion.stops.offer(event.getTokens().getText());
                completion.text.append(out);
                if (completion.stops.stopped() && completion.stopRequested.compareAndSet(false, true)) {
                    runtime.cancel(job.getJobId());
                }
            }
            case DONE -> {
                Done done = event.getDone();
                String rest = completion.stops.flush();
                completion.text.append(rest);
                completion.completionTokens = done.getUsage().getGeneratedTokens();
                completion.finishReason = completion.stops.stopped() || done.getReason() == Done.Reason.STOP_TOKEN ? "stop" : "length";
            }
            case FAILED -> {
                Failed f = event.getFailed();
                completion.failure = f.getCode() == Failed.Code.INVALID_REQUEST ? ApiError.invalid(f.getMessage())
                        : f.getCode() == Failed.Code.UNAVAILABLE ? new ApiError(StatusCodes.SERVICE_UNAVAILABLE, "server_error", null, f.getMessage())
                        : new ApiError(StatusCodes.INTERNAL_SERVER_ERROR, "server_error", null, f.getMessage());
            }
            default -> {
            }
        }
        boolean last = event.hasDone() || event.hasFailed();
        if (last) {
            admission.release();
        }
        return last;
    }

    /**
     * Server-sent events: a chunk per piece of text, then the finish, then [DONE]; a client that leaves cancels the job.
     * The response starts once the job is accepted, so a refused one still gets its status code.
     */
    private CompletionStage<HttpResponse> stream(JobRequest job, Completion completion) {
        Pair<BoundedSourceQueue<ByteString>, Source<ByteString, NotUsed>> queued = Source.<ByteString>queue(
                job.getSampling().getMaxNewTokens() + 8).preMaterialize(runtime.system());
        BoundedSourceQueue<ByteString> out = queued.first();
        AtomicBoolean ended = new AtomicBoolean();
        Source<ByteString, NotUsed> body = queued.second().watchTermination((mat, done) -> {
            done.whenComplete((d, failure) -> {
                if (!ended.get()) {
                    runtime.cancel(job.getJobId());
                }
            });
            return NotUsed.getInstance();
        });
        CompletableFuture<HttpResponse> response = new CompletableFuture<>();
        runtime.submit(job, metrics.observe(API, job.getJobId(), event -> {
            boolean last = finish(job, completion, event);
            if (event.hasAccepted()) {
                if (completion.chat) {
                    out.offer(sse(completion.chunk(null, true)));
                }
                response.complete(HttpResponse.create().withEntity(HttpEntities.createChunked(MediaTypes.TEXT_EVENT_STREAM.toContentType(), body)));
            }
            if (completion.failure != null) {
                ended.set(true);
                if (!response.complete(error(completion.failure))) {
                    out.offer(sse(errorJson(completion.failure)));
                    out.offer(ByteString.fromString("data: [DONE]\n\n"));
                }
                out.complete();
                return;
            }
            if (completion.streamed < completion.text.length()) {
                out.offer(sse(completion.chunk(completion.text.substring(completion.streamed), false)));
                completion.streamed = completion.text.length();
            }
            if (last) {
                ended.set(true);
                out.offer(sse(completion.finishChunk()));
                out.offer(ByteString.fromString("data: [DONE]\n\n"));
                out.complete();
            }
        }));
        return response;
    }

    private static ObjectNode errorJson(ApiError e) {
        ObjectNode body = JSON.createObjectNode();
        body.putObject("error").put("message", e.getMessage()).put("type", e.type).putNull("param").put("code", e.code);
        return body;
    }

    private static ByteString sse(JsonNode chunk) {
        return ByteString.fromString("data: " + chunk + "\n\n");
    }

    /** A completion as it is made: its text, token counts, why it finished, or why it failed. */
    private final class Completion {
        final String id;
        final boolean chat;
        final StopStrings stops;
        final long created = System.currentTimeMillis() / 1000;
        final StringBuilder text = new StringBuilder();
        // how much of the text has gone out in chunks
        int streamed;
        final AtomicBoolean stopRequested = new AtomicBoolean();
        int promptTokens;
        int completionTokens;
        String finishReason;
        ApiError failure;

        Completion(String id, boolean chat, StopStrings stops) {
            this.id = id;
            this.chat = chat;
            this.stops = stops;
        }

        private ObjectNode head(String object) {
            return JSON.createObjectNode().put("id", id).put("object", object).put("created", created).put("model", modelId);
        }

        private ObjectNode usage() {
            return JSON.createObjectNode().put("prompt_tokens", promptTokens).put("completion_tokens", completionTokens)
                    .put("total_tokens", promptTokens + completionTokens);
        }

        ObjectNode whole() {
            ObjectNode body = head(chat ? "chat.completion" : "text_completion");
            ObjectNode choice = body.putArray("choices").addObject().put("index", 0);
            if (chat) {
                choice.putObject("message").put("role", "assistant").put("content", text.toString());
            } else {
                choice.put("text", text.toString()).putNull("logprobs");
            }
            choice.put("finish_reason", finishReason);
            body.set("usage", usage());
            return body;
        }

        /** A chunk of text (or, for chat, the first chunk naming the role). */
        ObjectNode chunk(String piece, boolean role) {
            ObjectNode body = head(chat ? "chat.completion.chunk" : "text_completion");
            ArrayNode choices = body.putArray("choices");
            ObjectNode choice = choices.addObject().put("index", 0);
            if (chat) {
                ObjectNode delta = choice.putObject("delta");
                if (role) {
                    delta.put("role", "assistant").put("content", "");
                } else {
                    delta.put("content", piece);
                }
            } else {
                choice.put("text", piece).putNull("logprobs");
            }
            choice.putNull("finish_reason");
            return body;
        }

        ObjectNode finishChunk() {
            ObjectNode body = chunk("", false);
            ObjectNode choice = (ObjectNode) body.get("choices").get(0);
            if (chat) {
                choice.putObject("delta");
            }
            choice.put("finish_reason", finishReason);
            body.set("usage", usage());
            return body;
        }
    }
}
