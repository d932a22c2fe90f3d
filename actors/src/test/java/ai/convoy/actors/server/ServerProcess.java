package ai.convoy.actors.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.actors.cli.Convoy;
import ai.convoy.proto.JobServiceClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.grpc.GrpcClientSettings;

/** convoy serve in a JVM of its own on loopback, on free ports, its output in a log file; stopped by close. */
public final class ServerProcess implements AutoCloseable {
    static final Pattern LISTENING = Pattern.compile("over gRPC on 127\\.0\\.0\\.1:(\\d+) and HTTP on 127\\.0\\.0\\.1:(\\d+)");

    public final Process process;
    final Path log;
    public final int grpcPort;
    public final int httpPort;

    private ServerProcess(Process process, Path log, int grpcPort, int httpPort) {
        this.process = process;
        this.log = log;
        this.grpcPort = grpcPort;
        this.httpPort = httpPort;
    }

    /** Starts the server with these options after serve's own and waits (60 s at most) until it listens. */
    public static ServerProcess start(Path dir, String... options) throws Exception {
        Path log = dir.resolve("serve.log");
        List<String> serve = new ArrayList<>(List.of("serve", "--grpc-port", "0", "--http-port", "0"));
        serve.addAll(List.of(options));
        Process p = launch(dir, log, serve);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (p.isAlive() && System.nanoTime() < deadline) {
            Matcher m = LISTENING.matcher(Files.readString(log));
            if (m.find()) {
                return new ServerProcess(p, log, Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
            }
            Thread.sleep(50);
        }
        p.destroyForcibly();
        assertTrue(false, "the server did not listen: " + Files.readString(log));
        throw new IllegalStateException("unreachable");
    }

    /** convoy with these arguments in a JVM of its own, its temporary files in {@code dir}, its output in {@code log}. */
    public static Process launch(Path dir, Path log, List<String> args) throws java.io.IOException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> command = new ArrayList<>(List.of(java.toString(), "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Djava.io.tmpdir=" + dir, "-cp", System.getProperty("java.class.path"), Convoy.class.getName()));
        command.addAll(args);
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** A client of this server's job service, without TLS. */
    public JobServiceClient client(ActorSystem<?> system) {
        return JobServiceClient.create(GrpcClientSettings.connectToServiceAt("127.0.0.1", grpcPort, system).withTls(false), system);
    }

    public String logText() throws Exception {
        return Files.readString(log);
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }
}
