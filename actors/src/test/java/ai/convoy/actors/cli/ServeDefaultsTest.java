package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** convoy serve's defaults: configs/convoy.conf, under a --config file, under the command line. */
class ServeDefaultsTest {
    @TempDir
    Path tmp;

    static ServeCommand parse(Path config, String... args) {
        ServeCommand serve = new ServeCommand();
        CommandLine cli = new CommandLine(serve);
        cli.setDefaultValueProvider(ServeDefaults.load(config));
        cli.parseArgs(args);
        return serve;
    }

    @Test
    void theCommandLineOverridesTheFileWhichOverridesTheBuiltInDefaults() throws Exception {
        Path file = tmp.resolve("serve.conf");
        Files.writeString(file, """
                convoy.serve {
                  max-queue = 3
                  drain-timeout = 7
                  devices = "sim:0=64MiB,cpu"
                }
                """);
        ServeCommand serve = parse(file, "--max-queue", "5");
        assertEquals(5, serve.maxQueue, "the command line wins");
        assertEquals(7, serve.drainTimeout, "the file over the built-in default");
        assertEquals("sim:0=64MiB,cpu", serve.planOptions.deviceOptions.devices, "any option by its name");
        var builtIn = ConfigFactory.parseFile(Path.of("../configs/convoy.conf").toFile()).getConfig(ServeDefaults.PATH);
        assertEquals(builtIn.getString("bind"), serve.bind, "configs/convoy.conf where neither says");
        assertEquals(builtIn.getInt("grpc-port"), serve.grpcPort);
        ServeCommand plain = parse(null);
        assertEquals(builtIn.getInt("max-queue"), plain.maxQueue);
        assertEquals(builtIn.getInt("http-port"), plain.httpPort);
    }

    @Test
    void aMissingOrMalformedConfigurationIsOneLine() throws Exception {
        Path bad = tmp.resolve("bad.conf");
        Files.writeString(bad, "convoy.serve { max-queue = \n");
        for (Path file : new Path[] {tmp.resolve("missing.conf"), bad}) {
            CliRun run = CliRun.of("serve", "--config", file.toString());
            assertEquals(2, run.exitCode(), run.err());
            assertEquals(1, run.err().strip().lines().count(), run.err());
            assertTrue(run.err().contains(file.getFileName().toString()), run.err());
        }
        Path wrongType = tmp.resolve("wrong.conf");
        Files.writeString(wrongType, "convoy.serve.max-queue = lots\n");
        CliRun run = CliRun.of("serve", "--config", wrongType.toString(), "--devices", "cpu");
        assertEquals(2, run.exitCode(), run.err());
        assertTrue(run.err().contains("max-queue") && run.err().strip().lines().count() == 1, run.err());
    }
}
