package ai.convoy.actors.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.JobServiceClient;
import ai.convoy.proto.SamplingParams;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.grpc.GrpcClientSettings;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convoy serve --tls-cert/--tls-key: both ports speak TLS; a client that trusts the test certificate gets its job done. */
class ServeTlsTest {
    @TempDir
    Path tmp;

    Path resource(String name) throws Exception {
        Path file = tmp.resolve(name);
        try (InputStream in = ServeTlsTest.class.getResourceAsStream("/tls/" + name)) {
            Files.copy(in, file);
        }
        return file;
    }

    static SSLContext trusting(Path certificate) throws Exception {
        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        trusted.setCertificateEntry("test", TlsFiles.certificates(certificate)[0]);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trusted);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, tmf.getTrustManagers(), null);
        return context;
    }

    @Test
    void bothPortsServeTlsToAClientThatTrustsTheCertificate() throws Exception {
        Path cert = resource("cert.pem");
        Path key = resource("key.pem");
        SSLContext client = trusting(cert);
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "tls-test-client");
        try (ServerProcess server = ServerProcess.start(tmp, "--devices", "cpu", "--tls-cert", cert.toString(), "--tls-key", key.toString())) {
            HttpClient https = HttpClient.newBuilder().sslContext(client).build();
            HttpResponse<String> models = https.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + server.httpPort + "/v1/models")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, models.statusCode(), models.body());
            assertThrows(java.io.IOException.class, () -> HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + server.httpPort + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString()),
                    "plain text is not served");
            JobServiceClient jobs = JobServiceClient.create(GrpcClientSettings.connectToServiceAt("127.0.0.1", server.grpcPort, system)
                    .withTls(true).withSslContext(client).withOverrideAuthority("localhost"), system);
            List<JobEvent> events = jobs.submit(JobRequest.newBuilder().setJobId("over-tls").setText("The jury said")
                    .setSampling(SamplingParams.newBuilder().setTemperature(0).setMaxNewTokens(8)).build()).runWith(Sink.seq(), system)
                    .toCompletableFuture().get(60, TimeUnit.SECONDS);
            assertTrue(events.getLast().hasDone(), events.toString());
            assertEquals(8, events.getLast().getDone().getUsage().getGeneratedTokens());
        } finally {
            system.terminate();
        }
    }

    @Test
    void halfAPairOrABadFileIsOneLine() throws Exception {
        Path cert = resource("cert.pem");
        for (String[] args : new String[][] {{"serve", "--tls-cert", cert.toString()}, {"serve", "--tls-cert", cert.toString(), "--tls-key",
            cert.toString()}}) {
            java.io.StringWriter err = new java.io.StringWriter();
            int code = ai.convoy.actors.cli.Convoy.execute(new java.io.PrintWriter(new java.io.StringWriter(), true), new java.io.PrintWriter(err,
                    true), args);
            assertEquals(2, code, err.toString());
            assertEquals(1, err.toString().strip().lines().count(), err.toString());
        }
    }
}
