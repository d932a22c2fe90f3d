package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.actors.server.ServeChatTest;
import ai.convoy.actors.server.ServerProcess;
import ai.convoy.runtime.ParityModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convoy submit against convoy serve prints what convoy run prints for the same jobs on the same devices. */
class SubmitCommandTest {
    static final String DEVICES = "sim:0=64MiB,sim:1=64MiB,cpu";

    @TempDir
    static Path tmp;
    static ServerProcess server;

    @BeforeAll
    static void start() throws Exception {
        server = ServerProcess.start(tmp, "--devices", DEVICES);
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static CliRun submit(String... args) {
        List<String> all = new java.util.ArrayList<>(List.of("submit", "--server", "127.0.0.1:" + server.grpcPort));
        all.addAll(List.of(args));
        return CliRun.of(all);
    }

    static CliRun run(String... args) {
        List<String> all = new java.util.ArrayList<>(List.of("run", "--devices", DEVICES));
        all.addAll(List.of(args));
        return CliRun.of(all);
    }

    @Test
    void aLoneJobPrintsAsConvoyRun() {
        for (String[] options : new String[][] {{"--prompt", "The jury said", "--temperature", "0", "--max-new-tokens", "24"},
            {"--prompt", "The jury said", "--temperature", "0.8", "--seed", "5", "--max-new-tokens", "20"},
            {"--tokens", "5,6,7", "--temperature", "0", "--max-new-tokens", "8", "--print-ids"}}) {
            CliRun submitted = submit(options);
            CliRun local = run(options);
            assertEquals(0, submitted.exitCode(), submitted.err());
            assertEquals(local.out(), submitted.out(), Arrays.toString(options));
        }
    }

    @Test
    void aPromptsFilePrintsTheBlocksOfConvoyRun() throws Exception {
        Path prompts = tmp.resolve("prompts.txt");
        Files.writeString(prompts, "The jury said\n\nIt was the first time that\nHe went to the\n");
        String[] options = {"--prompts-file", prompts.toString(), "--temperature", "0.7", "--seed", "3", "--max-new-tokens", "12"};
        CliRun submitted = submit(options);
        CliRun local = run(options);
        assertEquals(0, submitted.exitCode(), submitted.err());
        // jobs print as they end, in any order: the same blocks
        assertEquals(blocks(local.out()), blocks(submitted.out()));
        assertEquals(3, blocks(submitted.out()).size());
    }

    /** A model without a tokenizer takes a prompts file of token ids, through the server as in one process. */
    @Test
    void aPromptsFileOfTokenIdsForAModelWithoutTokenizer() throws Exception {
        Path model = ParityModels.root().resolve("llama-tied-headdim");
        Path prompts = tmp.resolve("ids.txt");
        Files.writeString(prompts, "5,6,7\n\n9, 10, 11, 12\n");
        String[] options = {"--prompts-file", prompts.toString(), "--temperature", "0", "--max-new-tokens", "6", "--print-ids"};
        Path dir = Files.createDirectory(tmp.resolve("no-tokenizer"));
        try (ServerProcess plain = ServerProcess.start(dir, "--model", model.toString(), "--devices", "cpu")) {
            List<String> args = new java.util.ArrayList<>(List.of("submit", "--server", "127.0.0.1:" + plain.grpcPort));
            args.addAll(List.of(options));
            CliRun submitted = CliRun.of(args);
            List<String> local = new java.util.ArrayList<>(List.of("run", "--model", model.toString(), "--devices", "cpu"));
            local.addAll(List.of(options));
            CliRun alone = CliRun.of(local);
            assertEquals(0, submitted.exitCode(), submitted.err());
            assertEquals(0, alone.exitCode(), alone.err());
            // blocks print as jobs end, in any order; the ids last, in the jobs' order
            assertEquals(blocks(withoutIds(alone.out())), blocks(withoutIds(submitted.out())));
            assertEquals(idLines(alone.out()), idLines(submitted.out()));
            assertEquals(2, idLines(alone.out()).size(), alone.out());
            Files.writeString(prompts, "5,6,7\nsome text\n");
            CliRun text = CliRun.of(args);
            assertEquals(2, text.exitCode());
            assertTrue(text.err().contains("line 2 is not comma-separated token ids"), text.err());
        }
    }

    static List<String> idLines(String out) {
        return out.lines().filter(SubmitCommandTest::idLine).toList();
    }

    static String withoutIds(String out) {
        return out.lines().filter(l -> !idLine(l)).map(l -> l + "\n").collect(Collectors.joining());
    }

    private static boolean idLine(String line) {
        return line.matches("[0-9]+(,[0-9]+)*");
    }

    static Set<String> blocks(String out) {
        return Arrays.stream(out.split("(?m)^(?=--- job )")).filter(b -> !b.isBlank()).collect(Collectors.toSet());
    }

    @Test
    void anUnreachableServerOrABadRequestIsOneLine() {
        CliRun nobody = CliRun.of("submit", "--server", "127.0.0.1:1", "--prompt", "hi");
        assertEquals(2, nobody.exitCode());
        assertEquals(1, nobody.err().strip().lines().count(), nobody.err());
        assertTrue(nobody.err().contains("127.0.0.1:1"), nobody.err());
        CliRun bad = submit("--tokens", "1,99999", "--temperature", "0");
        assertEquals(2, bad.exitCode());
        assertTrue(bad.err().contains("INVALID_ARGUMENT") && bad.err().contains("99999"), bad.err());
        CliRun badAddress = CliRun.of("submit", "--server", "nowhere", "--prompt", "hi");
        assertEquals(2, badAddress.exitCode());
        assertEquals(1, badAddress.err().strip().lines().count(), badAddress.err());
    }

    @Test
    void aChatPrintsAsConvoyRunsChat() throws Exception {
        Path model = ServeChatTest.chatModel(tmp.resolve("chat-model"));
        Path dir = Files.createDirectories(tmp.resolve("chat-server"));
        String[] options = {"--chat", "--system", "Answer briefly.", "--max-new-tokens", "12", "--temperature", "0"};
        String input = "The jury said\nAnd then?\n/exit\n";
        try (ServerProcess chatServer = ServerProcess.start(dir, "--model", model.toString(), "--devices", "cpu")) {
            List<String> remote = new java.util.ArrayList<>(List.of("submit", "--server", "127.0.0.1:" + chatServer.grpcPort));
            remote.addAll(List.of(options));
            List<String> local = new java.util.ArrayList<>(List.of("run", "--model", model.toString()));
            local.addAll(List.of(options));
            CliRun submitted = withInput(input, remote);
            CliRun ran = withInput(input, local);
            assertEquals(0, submitted.exitCode(), submitted.err());
            assertEquals(3, submitted.out().split("> ", -1).length - 1, "a prompt for each message and for /exit: " + submitted.out());
            assertTrue(submitted.out().length() > 10, submitted.out());
            assertEquals(ran.out(), submitted.out(), "the same two answers, the second given the first");
        }
        CliRun noTemplate = withInput("hello\n", List.of("submit", "--server", "127.0.0.1:" + server.grpcPort, "--chat"));
        assertEquals(2, noTemplate.exitCode());
        assertTrue(noTemplate.err().contains("no chat template"), noTemplate.err());
    }

    static CliRun withInput(String input, List<String> args) {
        java.io.InputStream stdin = System.in;
        try {
            System.setIn(new java.io.ByteArrayInputStream(input.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
            return CliRun.of(args);
        } finally {
            System.setIn(stdin);
        }
    }
}
