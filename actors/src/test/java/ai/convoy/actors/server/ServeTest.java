package ai.convoy.actors.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.actors.cli.Convoy;
import ai.convoy.proto.CancelJob;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.JobServiceClient;
import ai.convoy.proto.ListModelsRequest;
import ai.convoy.proto.SamplingParams;
import ai.convoy.proto.ServerStatus;
import ai.convoy.proto.StatusRequest;
import ai.convoy.proto.TokenIds;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthClient;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.grpc.GrpcClientSettings;
import org.apache.pekko.grpc.GrpcServiceException;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * convoy serve as its own process on loopback, the built-in model on two simulated GPUs and the CPU, called through the
 * generated gRPC client: the same text as convoy run, bad requests refused with one message, a full queue refused at
 * once, a cancelled call freeing its sequence, and SIGTERM draining the server to exit status 0.
 */
@TestMethodOrder(MethodOrderer.MethodName.class)
class ServeTest {
    static final String DEVICES = "sim:0=64MiB,sim:1=64MiB,cpu";
    static final int MAX_QUEUE = 64;
    /** The server's resident memory after a burst stays below this (the JVM, the model and 64 jobs need far less). */
    static final long MAX_RESIDENT_BYTES = 2L << 30;
    /** The openai npm package the HTTP API is checked with. */
    static final String OPENAI_PACKAGE = "4.104.0";

    @TempDir
    static Path tmp;
    static ServerProcess server;
    static ActorSystem<Void> client;
    static JobServiceClient jobs;
    static int httpPort;

    @BeforeAll
    static void start() throws Exception {
        server = ServerProcess.start(tmp, "--devices", DEVICES, "--max-queue", Integer.toString(MAX_QUEUE), "--drain-timeout", "20");
        httpPort = server.httpPort;
        client = ActorSystem.create(Behaviors.empty(), "serve-test-client");
        jobs = server.client(client);
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
        if (client != null) {
            client.terminate();
        }
    }

    static JobRequest greedy(String id, String text, int newTokens) {
        return JobRequest.newBuilder().setJobId(id).setText(text)
                .setSampling(SamplingParams.newBuilder().setTemperature(0).setMaxNewTokens(newTokens)).build();
    }

    /** Every event of a job, or the gRPC status it was refused with. */
    record Outcome(List<JobEvent> events, Status refused) {
        String text() {
            StringBuilder b = new StringBuilder();
            events.stream().filter(JobEvent::hasTokens).forEach(e -> b.append(e.getTokens().getText()));
            return b.toString();
        }

        boolean done() {
            return !events.isEmpty() && events.getLast().hasDone();
        }
    }

    static CompletableFuture<Outcome> run(JobRequest request) {
        return jobs.submit(request).runWith(Sink.seq(), client).toCompletableFuture().handle((events, failure) -> {
            if (failure == null) {
                return new Outcome(events, null);
            }
            Throwable cause = failure instanceof java.util.concurrent.CompletionException ? failure.getCause() : failure;
            if (cause instanceof GrpcServiceException g) {
                return new Outcome(List.of(), g.getStatus());
            }
            if (cause instanceof io.grpc.StatusRuntimeException s) {
                return new Outcome(List.of(), s.getStatus());
            }
            throw new AssertionError("neither events nor a status: " + cause, cause);
        });
    }

    static Outcome runNow(JobRequest request) throws Exception {
        return run(request).get(60, TimeUnit.SECONDS);
    }

    /** What convoy run prints for the prompt through the same devices, with these options. */
    static String convoyRun(String prompt, String... options) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> args = new ArrayList<>(List.of("run", "--devices", DEVICES, "--prompt", prompt));
        args.addAll(List.of(options));
        int code = Convoy.execute(new PrintWriter(out, true), new PrintWriter(err, true), args.toArray(String[]::new));
        assertEquals(0, code, err.toString());
        return out.toString().strip();
    }

    @Test
    void aGreedyJobGivesTheTextOfConvoyRun() throws Exception {
        String run = convoyRun("The jury said", "--temperature", "0", "--max-new-tokens", "24");
        Outcome served = runNow(greedy("same-as-run", "The jury said", 24));
        assertTrue(served.done(), served.toString());
        assertEquals(run, served.text().strip());
        assertEquals(24, served.events().getLast().getDone().getUsage().getGeneratedTokens());
    }

    @Test
    void badRequestsAreRefusedWithOneMessageAndTheServerGoesOn() throws Exception {
        List<JobRequest> bad = List.of(
                JobRequest.newBuilder().setJobId("vocab").setTokenIds(TokenIds.newBuilder().addIds(1).addIds(1_000_000)).build(),
                JobRequest.newBuilder().setJobId("empty").setTokenIds(TokenIds.newBuilder()).build(),
                greedy("model", "Hello", 4).toBuilder().setModel("no-such-model").build(),
                greedy("negative", "Hello", 4).toBuilder().setSampling(SamplingParams.newBuilder().setTemperature(-1)).build(),
                greedy("top-p", "Hello", 4).toBuilder().setSampling(SamplingParams.newBuilder().setTopP(2)).build());
        for (JobRequest r : bad) {
            Outcome o = runNow(r);
            assertTrue(o.refused() != null && o.refused().getCode() == Status.Code.INVALID_ARGUMENT, r.getJobId() + ": " + o);
            String message = o.refused().getDescription();
            assertTrue(message != null && !message.isBlank() && !message.contains("\n") && !message.contains("Exception"), r.getJobId() + ": " + message);
            System.out.println(r.getJobId() + ": " + message);
        }
        assertTrue(runNow(greedy("after-bad", "The jury said", 4)).done(), "the next good request is answered");
    }

    /** The value of a counter or gauge at {@code GET /metrics} whose line names every label given ("" for none). */
    static double metric(String name, String... labels) throws Exception {
        java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://127.0.0.1:" + httpPort + "/metrics")).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        return r.body().lines().filter(l -> l.startsWith(name + "{") || l.startsWith(name + " "))
                .filter(l -> java.util.Arrays.stream(labels).allMatch(l::contains))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    /** The server process's resident memory, from /proc (Linux). */
    static long residentBytes() throws Exception {
        String status = Files.readString(Path.of("/proc", Long.toString(server.process.pid()), "status"));
        return status.lines().filter(l -> l.startsWith("VmRSS:")).mapToLong(l -> Long.parseLong(l.replaceAll("\\D", "")) * 1024).findFirst()
                .orElseThrow();
    }

    static final java.net.http.HttpClient HTTP = java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1).build();

    static CompletableFuture<java.net.http.HttpResponse<String>> post(String path, String body) {
        return HTTP.sendAsync(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://127.0.0.1:" + httpPort + path)).POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void fiveHundredAtOncePastTheQueueAreRefusedAtOnceAndNoneIsLost() throws Exception {
        int each = 250;
        double refusedBefore = metric("convoy_requests_total", "outcome=\"queue_full\"");
        double completedBefore = metric("convoy_requests_total", "outcome=\"completed\"");
        long rssBefore = residentBytes();
        long start = System.nanoTime();
        List<CompletableFuture<Outcome>> grpc = new ArrayList<>();
        List<CompletableFuture<java.net.http.HttpResponse<String>>> http = new ArrayList<>();
        for (int i = 0; i < each; i++) {
            grpc.add(run(greedy("burst-" + i, "The jury said", 12)));
            http.add(post("/v1/completions", "{\"prompt\": \"The jury said\", \"max_tokens\": 12, \"temperature\": 0}"));
        }
        int done = 0;
        int refused = 0;
        String expected = null;
        for (CompletableFuture<Outcome> f : grpc) {
            Outcome o = f.get(120, TimeUnit.SECONDS);
            if (o.refused() != null) {
                assertEquals(Status.Code.RESOURCE_EXHAUSTED, o.refused().getCode(), o.refused().toString());
                refused++;
            } else {
                assertTrue(o.done(), o.toString());
                expected = expected == null ? o.text() : expected;
                assertEquals(expected, o.text(), "greedy jobs of one prompt agree");
                done++;
            }
        }
        ObjectMapper json = new ObjectMapper();
        for (CompletableFuture<java.net.http.HttpResponse<String>> f : http) {
            java.net.http.HttpResponse<String> r = f.get(120, TimeUnit.SECONDS);
            if (r.statusCode() == 429) {
                assertEquals("rate_limit_exceeded", json.readTree(r.body()).get("error").get("type").asText(), r.body());
                refused++;
            } else {
                assertEquals(200, r.statusCode(), r.body());
                String text = json.readTree(r.body()).get("choices").get(0).get("text").asText();
                expected = expected == null ? text : expected;
                assertEquals(expected, text, "the same text over HTTP");
                done++;
            }
        }
        long rssAfter = residentBytes();
        System.out.printf("%d at once (gRPC and HTTP) against --max-queue %d: %d completed, %d refused, in %.2f s; server resident memory"
                + " %d MiB before, %d MiB after%n", 2 * each, MAX_QUEUE, done, refused, (System.nanoTime() - start) / 1e9, rssBefore >> 20, rssAfter >> 20);
        assertEquals(2 * each, done + refused, "every request ended");
        assertTrue(done >= MAX_QUEUE && refused > 0, done + " completed, " + refused + " refused");
        assertTrue(rssAfter < MAX_RESIDENT_BYTES, "resident memory stays bounded: " + (rssAfter >> 20) + " MiB");
        assertEquals(0, status().getJobs(), "every admitted job was released");
        assertEquals(refused, metric("convoy_requests_total", "outcome=\"queue_full\"") - refusedBefore, "/metrics counts refusals");
        assertEquals(done, metric("convoy_requests_total", "outcome=\"completed\"") - completedBefore, "/metrics counts completions");
        assertEquals(0, metric("convoy_jobs_held"), "/metrics: no job held");
        assertTrue(metric("convoy_time_to_first_token_seconds_count") >= done, "first tokens timed");
    }

    /** Bad HTTP requests, each with the status it must get: path, body, status. */
    static final String[][] BAD_HTTP = {
        {"/v1/completions", "not json", "400"},
        {"/v1/completions", "", "400"},
        {"/v1/completions", "[1, 2]", "400"},
        {"/v1/completions", "{}", "400"},
        {"/v1/completions", "{\"prompt\": 5}", "400"},
        {"/v1/completions", "{\"prompt\": [\"one\", \"two\"]}", "400"},
        {"/v1/completions", "{\"prompt\": []}", "400"},
        {"/v1/completions", "{\"prompt\": [1, 999999]}", "400"},
        {"/v1/completions", "{\"prompt\": [1, \"x\"]}", "400"},
        {"/v1/completions", "{\"prompt\": [1, 2.5]}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 0}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": -5}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": \"ten\"}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 1.5}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"temperature\": -1}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"temperature\": \"hot\"}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"top_p\": 1.5}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"top_p\": \"x\"}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"seed\": \"abc\"}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"stop\": 5}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"stop_token_ids\": \"x\"}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"stop_token_ids\": [\"a\"]}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"n\": 2}", "400"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"model\": \"gpt-4\"}", "404"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"temperature\": -1, \"stream\": true}", "400"},
        {"/v1/embeddings", "{\"input\": \"hi\"}", "404"},
        {"/v1/chat/completions", "{}", "400"},
        {"/v1/chat/completions", "{\"messages\": \"hi\"}", "400"},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\"}]}", "400"},
        {"/v1/completions", "{\"prompt\": \"" + "word ".repeat(2000) + "\"}", "400"},
    };

    @Test
    void everyBadHttpRequestGetsItsStatusAndOneLineAndTheServerGoesOn() throws Exception {
        ObjectMapper json = new ObjectMapper();
        for (String[] bad : BAD_HTTP) {
            java.net.http.HttpResponse<String> r = post(bad[0], bad[1]).get(60, TimeUnit.SECONDS);
            String what = bad[0] + " " + (bad[1].length() > 80 ? bad[1].substring(0, 80) + "..." : bad[1]);
            assertEquals(Integer.parseInt(bad[2]), r.statusCode(), what + ": " + r.body());
            JsonNode error = json.readTree(r.body()).get("error");
            String message = error.get("message").asText();
            assertTrue(!message.isBlank() && !message.contains("\n") && !message.contains("Exception") && error.has("type"), what + ": " + r.body());
            System.out.println(r.statusCode() + " " + what + ": " + message);
        }
        java.net.http.HttpResponse<String> good = post("/v1/completions", "{\"prompt\": \"The jury said\", \"max_tokens\": 4}")
                .get(60, TimeUnit.SECONDS);
        assertEquals(200, good.statusCode(), "the next good request is answered: " + good.body());
        assertTrue(BAD_HTTP.length >= 30);
    }

    @Test
    void theOpenAiPackageGetsTheTextOfConvoyRun() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("openai-client"));
        try (InputStream script = ServeTest.class.getResourceAsStream("/clients/openai-client.mjs")) {
            Files.copy(script, dir.resolve("openai-client.mjs"));
        }
        Files.writeString(dir.resolve("package.json"), "{\"type\": \"module\", \"private\": true}");
        Process npm = new ProcessBuilder("npm", "install", "--no-audit", "--no-fund", "openai@" + OPENAI_PACKAGE).directory(dir.toFile())
                .redirectErrorStream(true).redirectOutput(dir.resolve("npm.log").toFile()).start();
        boolean installed = npm.waitFor(240, TimeUnit.SECONDS) && npm.exitValue() == 0;
        npm.destroyForcibly();
        Assumptions.assumeTrue(installed, "npm could not install the openai package: " + Files.readString(dir.resolve("npm.log")));
        Process node = new ProcessBuilder("node", "openai-client.mjs", "http://127.0.0.1:" + httpPort + "/v1", "The jury said")
                .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(dir.resolve("client.log").toFile()).start();
        assertTrue(node.waitFor(120, TimeUnit.SECONDS), "the client ended");
        String printed = Files.readString(dir.resolve("client.log"));
        assertEquals(0, node.exitValue(), printed);
        System.out.println("openai client: " + printed);
        JsonNode got = new ObjectMapper().readTree(printed.lines().reduce((a, b) -> b).orElseThrow());

        String greedy = convoyRun("The jury said", "--temperature", "0", "--max-new-tokens", "24");
        assertEquals(greedy, got.get("whole").asText().strip());
        assertEquals(got.get("whole").asText(), got.get("streamed").asText(), "streamed as whole");
        assertEquals("length", got.get("finish").asText());
        assertEquals(24, got.get("usage").get("completion_tokens").asInt());
        String sampled = convoyRun("The jury said", "--temperature", "0.8", "--top-k", "0", "--top-p", "1", "--seed", "11",
                "--max-new-tokens", "16");
        assertEquals(sampled, got.get("sampled").get(0).asText().strip(), "seeded sampling as convoy run's");
        assertEquals(got.get("sampled").get(0), got.get("sampled").get(1));
        String whole = got.get("whole").asText();
        assertTrue(whole.contains(" man"), whole);
        assertEquals(whole.substring(0, whole.indexOf(" man")), got.get("stopped").asText(), "the text ends before the stop string");
        assertEquals("stop", got.get("stoppedFinish").asText());
        JsonNode errors = got.get("errors");
        assertEquals(404, errors.get("unknownModel").get("status").asInt(), errors.toString());
        assertEquals(400, errors.get("badTemperature").get("status").asInt(), errors.toString());
        assertEquals(400, errors.get("noChatTemplate").get("status").asInt(), errors.toString());
        assertEquals("[\"convoy-default\"]", got.get("models").toString());
    }

    static ServerStatus status() throws Exception {
        return jobs.getStatus(StatusRequest.getDefaultInstance()).toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    @Test
    void cancellingACallOrTheJobFreesItsSequence() throws Exception {
        double cancelledBefore = metric("convoy_requests_total", "api=\"grpc\"", "outcome=\"cancelled\"");
        // the client takes three events and goes away: the server cancels the job
        List<JobEvent> firstThree = jobs.submit(greedy("walks-away", "The jury said", 400)).take(3).runWith(Sink.seq(), client)
                .toCompletableFuture().get(60, TimeUnit.SECONDS);
        assertEquals(3, firstThree.size());
        CompletableFuture<Outcome> cancelled = run(greedy("cancelled", "The jury said", 400));
        Thread.sleep(200);
        assertTrue(jobs.cancel(CancelJob.newBuilder().setJobId("cancelled").build()).toCompletableFuture().get(10, TimeUnit.SECONDS).getFound());
        Outcome o = cancelled.get(60, TimeUnit.SECONDS);
        assertTrue(o.done() && o.events().getLast().getDone().getReason() == ai.convoy.proto.Done.Reason.CANCELLED, o.toString());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        ServerStatus s = status();
        while ((s.getJobs() > 0 || s.getLiveSequences() > 0) && System.nanoTime() < deadline) {
            Thread.sleep(50);
            s = status();
        }
        assertEquals(0, s.getJobs(), s.toString());
        assertEquals(0, s.getLiveSequences(), "no sequence is left live: " + s);
        assertEquals(cancelledBefore + 2, metric("convoy_requests_total", "api=\"grpc\"", "outcome=\"cancelled\""),
                "both jobs were cancelled, not finished");
        assertTrue(s.getStagesCount() > 1 && s.getPlan().contains("sim:0"), s.toString());
        ai.convoy.proto.DeviceMemory sim0 = s.getDevicesList().stream().filter(d -> d.getDevice().equals("sim:0")).findFirst().orElseThrow();
        assertTrue(sim0.getPlannedBytes() > 0 && sim0.getUsedBytes() > 0 && sim0.getUsedBytes() <= sim0.getPlannedBytes(), sim0.toString());
        assertTrue(metric("convoy_device_memory_used_bytes", "device=\"sim:0\"") > 0, "/metrics: the memory sim:0 holds");
    }

    @Test
    void aCallPastItsDeadlineCancelsItsJob() throws Exception {
        double cancelledBefore = metric("convoy_requests_total", "api=\"grpc\"", "outcome=\"cancelled\"");
        JobServiceClient hurried = JobServiceClient.create(GrpcClientSettings.connectToServiceAt("127.0.0.1", server.grpcPort, client)
                .withTls(false).withDeadline(java.time.Duration.ofMillis(500)), client);
        try {
            // the connection made first (a few tries: on a busy machine connecting may take longer than the deadline),
            // so that the deadline falls while the job runs
            for (int attempt = 0; ; attempt++) {
                try {
                    hurried.listModels(ai.convoy.proto.ListModelsRequest.getDefaultInstance()).toCompletableFuture().get(30, TimeUnit.SECONDS);
                    break;
                } catch (java.util.concurrent.ExecutionException e) {
                    if (attempt == 9) {
                        throw e;
                    }
                }
            }
            Outcome o = hurried.submit(greedy("hurried", "The jury said", 500)).runWith(Sink.seq(), client).toCompletableFuture()
                    .handle((events, failure) -> failure == null ? new Outcome(events, null)
                            : new Outcome(List.of(), ((io.grpc.StatusRuntimeException) (failure instanceof java.util.concurrent.CompletionException
                                    ? failure.getCause() : failure)).getStatus())).get(60, TimeUnit.SECONDS);
            assertTrue(o.refused() != null && o.refused().getCode() == Status.Code.DEADLINE_EXCEEDED, o.toString());
        } finally {
            hurried.close();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        ServerStatus s = status();
        while ((s.getJobs() > 0 || s.getLiveSequences() > 0) && System.nanoTime() < deadline) {
            Thread.sleep(50);
            s = status();
        }
        assertEquals(0, s.getJobs(), "the job ended with its call: " + s);
        assertEquals(0, s.getLiveSequences(), s.toString());
        assertEquals(cancelledBefore + 1, metric("convoy_requests_total", "api=\"grpc\"", "outcome=\"cancelled\""), "cancelled, not finished: "
                + server.logText().lines().filter(l -> l.contains("hurried") || l.contains("walks-away") || l.contains("same-as-run")).toList());
    }

    @Test
    void healthAndModels() throws Exception {
        HealthClient health = HealthClient.create(GrpcClientSettings.connectToServiceAt("127.0.0.1", server.grpcPort, client).withTls(false), client);
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.check(HealthCheckRequest.getDefaultInstance()).toCompletableFuture()
                .get(10, TimeUnit.SECONDS).getStatus());
        assertEquals("convoy-default", jobs.listModels(ListModelsRequest.getDefaultInstance()).toCompletableFuture().get(10, TimeUnit.SECONDS)
                .getModels(0).getId());
        health.close();
    }

    /** Runs last by name: SIGTERM lets the running job finish, refuses new ones, and the server exits with status 0. */
    @Test
    void zzSigtermDrainsAndExitsCleanly() throws Exception {
        CompletableFuture<Outcome> running = run(greedy("during-drain", "The jury said", 60));
        Thread.sleep(300);
        server.process.destroy();
        Outcome o = running.get(60, TimeUnit.SECONDS);
        assertTrue(o.done(), "the running job finished: " + o);
        assertTrue(server.process.waitFor(30, TimeUnit.SECONDS), "the server stopped");
        assertEquals(0, server.process.exitValue(), server.logText());
        assertTrue(server.logText().contains("convoy: stopped; every job finished"), server.logText());
    }
}
