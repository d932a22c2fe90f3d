package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import java.io.PrintWriter;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code convoy} command line. */
@Command(name = "convoy", mixinStandardHelpOptions = true, version = "convoy 0.1.0",
        description = "Runs Llama-family language models across GPUs, CPUs and hosts.",
        subcommands = {RunCommand.class, PerplexityCommand.class, PlanCommand.class, QuantizeCommand.class, InspectCommand.class, TokenizeCommand.class,
            SynthesizeCommand.class, BenchCommand.class, ServeCommand.class, SubmitCommand.class, NodeCommand.class,
            CommandLine.HelpCommand.class})
public final class Convoy {
    static final int EXIT_BAD_INPUT = 2;
    static final int EXIT_INTERNAL = 1;

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns its exit code; errors are one line unless --verbose is given. */
    /** The file after --config (or in --config=FILE), read before the options are parsed since it gives their defaults. */
    private static java.nio.file.Path configFile(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].startsWith("--config=")) {
                return java.nio.file.Path.of(args[i].substring("--config=".length()));
            }
            if (args[i].equals("--config") && i + 1 < args.length) {
                return java.nio.file.Path.of(args[i + 1]);
            }
        }
        return null;
    }

    public static int execute(String... args) {
        return execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    public static int execute(PrintWriter out, PrintWriter err, String... args) {
        // logging set up before an actor system, a server or a client start logging from several threads at once
        org.slf4j.LoggerFactory.getILoggerFactory();
        boolean verbose = Arrays.asList(args).contains("--verbose");
        CommandLine cli = new CommandLine(new Convoy()).setOut(out).setErr(err);
        if (args.length > 0 && args[0].equals("serve")) {
            try {
                cli.getSubcommands().get("serve").setDefaultValueProvider(ServeDefaults.load(configFile(args)));
            } catch (ConvoyException e) {
                err.println("convoy: error: " + e.getMessage());
                err.flush();
                return EXIT_BAD_INPUT;
            }
        }
        cli.setParameterExceptionHandler((e, a) -> {
            PrintWriter w = e.getCommandLine().getErr();
            w.println("convoy: error: " + e.getMessage() + " (see 'convoy " + e.getCommandLine().getCommandName() + " --help')");
            w.flush();
            return EXIT_BAD_INPUT;
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            PrintWriter w = commandLine.getErr();
            if (verbose) {
                e.printStackTrace(w);
            }
            if (e instanceof ConvoyException) {
                w.println("convoy: error: " + e.getMessage());
                w.flush();
                return EXIT_BAD_INPUT;
            }
            w.println("convoy: internal error: " + e + (verbose ? "" : " (run with --verbose for the stack trace)"));
            w.flush();
            return EXIT_INTERNAL;
        });
        return cli.execute(args);
    }
}
