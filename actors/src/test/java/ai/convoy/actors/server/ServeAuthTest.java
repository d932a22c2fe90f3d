package ai.convoy.actors.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.actors.cli.Convoy;
import ai.convoy.proto.JobServiceClient;
import ai.convoy.proto.ListModelsRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convoy serve --auth-token-file: a call without the token reaches nothing, over gRPC or HTTP; with it, all works. */
class ServeAuthTest {
    @TempDir
    Path tmp;

    static HttpResponse<String> get(int port, String path, String authorization) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path));
        if (authorization != null) {
            r.header("Authorization", authorization);
        }
        return HttpClient.newHttpClient().send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void everyCallNeedsTheToken() throws Exception {
        Path token = tmp.resolve("token");
        Files.writeString(token, "s3cret-token\n");
        ActorSystem<Void> client = ActorSystem.create(Behaviors.empty(), "auth-test-client");
        try (ServerProcess server = ServerProcess.start(tmp, "--devices", "cpu", "--auth-token-file", token.toString())) {
            assertEquals(401, get(server.httpPort, "/v1/models", null).statusCode());
            HttpResponse<String> wrong = get(server.httpPort, "/metrics", "Bearer s3cret-tokeN");
            assertEquals(401, wrong.statusCode());
            assertTrue(wrong.body().contains("\"code\":\"invalid_api_key\""), wrong.body());
            assertEquals(200, get(server.httpPort, "/v1/models", "Bearer s3cret-token").statusCode());

            JobServiceClient jobs = server.client(client);
            try {
                jobs.listModels(ListModelsRequest.getDefaultInstance()).toCompletableFuture().get(30, TimeUnit.SECONDS);
                throw new AssertionError("a call without the token was answered");
            } catch (ExecutionException e) {
                assertTrue(e.getCause() instanceof StatusRuntimeException s && s.getStatus().getCode() == Status.Code.UNAUTHENTICATED, e.toString());
            }
            assertEquals("convoy-default", jobs.listModels().addHeader("authorization", "Bearer s3cret-token")
                    .invoke(ListModelsRequest.getDefaultInstance()).toCompletableFuture().get(30, TimeUnit.SECONDS).getModels(0).getId());
        } finally {
            client.terminate();
        }
    }

    @Test
    void anUnreadableTokenFileIsRefusedBeforeTheModelLoads() {
        StringWriter err = new StringWriter();
        int code = Convoy.execute(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), "serve", "--auth-token-file",
                tmp.resolve("missing").toString());
        assertEquals(2, code);
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertTrue(err.toString().contains("missing"), err.toString());
    }
}
