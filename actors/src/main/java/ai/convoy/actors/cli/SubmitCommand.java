package ai.convoy.actors.cli;

import ai.convoy.proto.Chat;
import ai.convoy.proto.ChatMessage;
import ai.convoy.proto.Failed;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.JobServiceClient;
import ai.convoy.proto.ListModelsRequest;
import ai.convoy.proto.ModelInfo;
import ai.convoy.proto.TokenIds;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.generate.SamplingParams;
import ai.convoy.runtime.tokenizer.ChatTemplate;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.grpc.GrpcClientSettings;
import org.apache.pekko.grpc.GrpcServiceException;
import org.apache.pekko.stream.javadsl.Sink;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "submit", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Runs jobs on a convoy serve over gRPC and prints what convoy run prints for them.")
final class SubmitCommand implements Callable<Integer> {
    private static final long CONNECT_SECONDS = 30;

    @Spec
    CommandSpec spec;

    @Option(names = "--server", required = true, paramLabel = "HOST:PORT", description = "The server's gRPC address.")
    String server;

    @ArgGroup(exclusive = true, multiplicity = "1")
    PromptOptions prompt;

    static final class PromptOptions {
        @Option(names = "--tokens", split = ",", paramLabel = "ID", description = "Prompt token ids, comma-separated.")
        int[] tokens;

        @Option(names = "--prompt", paramLabel = "TEXT", description = "Prompt text, encoded by the server's tokenizer.")
        String text;

        @Option(names = "--prompts-file", paramLabel = "FILE", description = "One job per line, run concurrently.")
        Path promptsFile;

        @Option(names = "--chat", description = "A conversation on the terminal through the server's chat template; /exit or end of input stops.")
        boolean chat;
    }

    @Option(names = "--system", paramLabel = "TEXT", description = "With --chat: a system message to start the conversation.")
    String systemMessage;

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--auth-token-file", paramLabel = "FILE", description = "A file whose first line is the server's token.")
    Path authTokenFile;

    @Option(names = "--print-ids", description = "Print the generated ids on one line, comma-separated, on standard output (the token stream then goes to standard error).")
    boolean printIds;

    @Override
    public Integer call() {
        String[] hostPort = server.split(":");
        if (hostPort.length != 2 || !hostPort[1].matches("\\d{1,5}") || Integer.parseInt(hostPort[1]) > 65535) {
            throw new ConvoyException("--server must be HOST:PORT, got '" + server + "'");
        }
        // the server stops at its model's eos ids unless the job names its own
        SamplingParams params = sampling.params(List.of());
        if (systemMessage != null && !prompt.chat) {
            throw new ConvoyException("--system goes with --chat");
        }
        List<PromptsFile.Line> lines = prompt.promptsFile != null ? PromptsFile.read(prompt.promptsFile) : null;
        String authorization = authTokenFile == null ? null : "Bearer " + ai.convoy.actors.server.BearerToken.firstLine(authTokenFile);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "convoy-submit");
        try {
            JobServiceClient client = JobServiceClient.create(GrpcClientSettings.connectToServiceAt(hostPort[0], Integer.parseInt(hostPort[1]), system)
                    .withTls(false), system);
            var models = client.listModels();
            if (authorization != null) {
                models = models.addHeader("authorization", authorization);
            }
            var listing = models;
            ModelInfo model = call(() -> listing.invoke(ListModelsRequest.getDefaultInstance()).toCompletableFuture()
                    .get(CONNECT_SECONDS, TimeUnit.SECONDS)).getModels(0);
            PipelineRun.Submitter submitter = (request, events) -> submit(client, system, authorization, request, events);
            if (prompt.chat) {
                new ChatSession((history, printTo) -> answer(submitter, history, params, printTo), systemMessage, out, err).run();
            } else {
                PipelineRun.runJobs(submitter, jobs(params, lines, model.getHasTokenizer()), model.getHasTokenizer(), printIds, null, out, err)
                        .requireAllDone();
            }
        } finally {
            system.terminate();
        }
        return 0;
    }

    /** The server's answer to the conversation, printed as it streams; a failed answer ends the chat with its reason. */
    private static String answer(PipelineRun.Submitter submitter, List<ChatTemplate.Message> history, SamplingParams params, PrintWriter out) {
        Chat.Builder chat = Chat.newBuilder();
        history.forEach(m -> chat.addMessages(ChatMessage.newBuilder().setRole(m.role()).setContent(m.content())));
        StringBuilder text = new StringBuilder();
        JobEvent last = submitter.submit(PipelineRun.numbered(0, JobRequest.newBuilder().setChat(chat), params).toBuilder().setJobId(uniqueId(0))
                .build(), e -> {
                    if (e.hasTokens()) {
                        text.append(e.getTokens().getText());
                        out.print(e.getTokens().getText());
                        out.flush();
                    }
                }).join();
        if (last.hasFailed()) {
            throw new ConvoyException(last.getFailed().getMessage());
        }
        return text.toString();
    }

    /** A job id no other client of the server uses: the server refuses a second running job of the same id. */
    private static String uniqueId(int number) {
        return "submit-" + java.util.UUID.randomUUID() + "-" + number;
    }

    /** A call's answer, or its failure as one line naming the server. */
    private <T> T call(Callable<T> call) {
        try {
            return call.call();
        } catch (ExecutionException | CompletionException e) {
            throw new ConvoyException("the server at " + server + " " + describe(e.getCause()));
        } catch (java.util.concurrent.TimeoutException e) {
            throw new ConvoyException("the server at " + server + " did not answer within " + CONNECT_SECONDS + " s");
        } catch (Exception e) {
            throw new ConvoyException("the server at " + server + " " + describe(e));
        }
    }

    private static String describe(Throwable t) {
        io.grpc.Status status = t instanceof StatusRuntimeException s ? s.getStatus() : t instanceof GrpcServiceException g ? g.getStatus() : null;
        if (status == null) {
            return "failed: " + t.getMessage();
        }
        if (status.getCode() == io.grpc.Status.Code.UNAVAILABLE && status.getCause() != null) {
            Throwable root = status.getCause();
            while (root.getCause() != null) {
                root = root.getCause();
            }
            return "cannot be reached: " + root.getMessage();
        }
        String why = status.getDescription() != null ? status.getDescription() : status.getCause() != null ? status.getCause().getMessage() : "";
        return "answered " + status.getCode() + (why.isEmpty() ? "" : ": " + why.lines().findFirst().orElse(""));
    }

    /** A job on the server; a call refused or broken ends as a failed event with the server's reason. */
    private CompletableFuture<JobEvent> submit(JobServiceClient client, ActorSystem<Void> system, String authorization, JobRequest request,
                                               Consumer<JobEvent> events) {
        AtomicReference<JobEvent> last = new AtomicReference<>();
        var call = client.submit();
        if (authorization != null) {
            call = call.addHeader("authorization", authorization);
        }
        return call.invoke(request).runWith(Sink.foreach(e -> {
            last.set(e);
            events.accept(e);
        }), system).toCompletableFuture().handle((done, failure) -> {
            if (failure == null && last.get() != null && (last.get().hasDone() || last.get().hasFailed())) {
                return last.get();
            }
            String why = failure == null ? "the stream ended before the job did"
                    : "the server at " + server + " " + describe(failure instanceof CompletionException ? failure.getCause() : failure);
            return JobEvent.newBuilder().setJobId(request.getJobId()).setFailed(Failed.newBuilder().setCode(Failed.Code.INTERNAL)
                    .setMessage(why)).build();
        });
    }

    /**
     * The jobs, numbered as convoy run numbers them: 0 for a lone prompt, the line for a prompts file, whose lines are
     * text or, when the server's model has no tokenizer, token ids.
     */
    private List<PipelineRun.NumberedJob> jobs(SamplingParams params, List<PromptsFile.Line> lines, boolean tokenizer) {
        if (lines == null) {
            JobRequest.Builder job = JobRequest.newBuilder();
            if (prompt.text != null) {
                job.setText(prompt.text);
            } else {
                job.setTokenIds(tokenIds(prompt.tokens));
            }
            return List.of(new PipelineRun.NumberedJob(0, PipelineRun.numbered(0, job, params).toBuilder().setJobId(uniqueId(0)).build()));
        }
        List<PipelineRun.NumberedJob> jobs = new ArrayList<>();
        for (PromptsFile.Line line : lines) {
            JobRequest.Builder job = tokenizer ? JobRequest.newBuilder().setText(line.text())
                    : JobRequest.newBuilder().setTokenIds(tokenIds(PromptsFile.tokenIds(prompt.promptsFile, line)));
            jobs.add(new PipelineRun.NumberedJob(line.number(), PipelineRun.numbered(line.number(), job, params).toBuilder()
                    .setJobId(uniqueId(line.number())).build()));
        }
        return jobs;
    }

    private static TokenIds tokenIds(int[] ids) {
        TokenIds.Builder b = TokenIds.newBuilder();
        for (int t : ids) {
            b.addIds(t);
        }
        return b.build();
    }
}
